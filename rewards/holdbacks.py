"""Rewards of kind ``information``: their posting with a held share, the release or forfeit of
that share, and adjustments when a final item's consensus is revised.

- A reward moves ``amount`` out of the lab's budget: ``amount - held`` to the annotator's
  payable account, ``held`` (``holdback_bp`` of it) to their held account, shown to them as
  pending with its reason.
- :func:`holdbacks_settle` (periodic) releases a held share (held -> payable, reference
  ``holdback_release:<label>``) once the settling period has passed, the item is final and the
  annotator is in good standing in the project: not suspended, not in a suspected group whose
  decision is pending. It forfeits it (held -> lab budget, ``holdback_forfeit:<label>``) when a
  suspension excluded the label and stands (appeal upheld, or not appealed within the settling
  period) or a group decision confirmed the annotator's group. A release and a forfeit of one
  label exclude each other (both lock the held account, and each checks the other's reference).
- :func:`reward_adjustments_post` (periodic) pays a revision of a final item's consensus
  (``ItemConsensus.revisions``) as a new transaction ``reward_adjustment:<label>:<revision>``:
  the right term the label gains (lab budget -> payable) or loses (payable -> lab budget).
- A release also posts the reward's settlement top-up (:mod:`rewards.topups`): the reward rated
  again with the annotator's windows at settlement, paid when above what the label was paid.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label, ProjectSuspension
from rewards.ledger import expert_account, lab_budget_account, ledger_post
from rewards.models import LedgerAccount, LedgerTransaction, RewardPolicy
from rewards.peer_prediction import ProjectStats, suspected_group_members
from rewards.policy_information import information_compute, label_right, young_labels
from rewards.topups import reward_topup
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.slices import slice_over

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind

_stats_cache: dict[str, Any] = {}


def release_reference(label_id: Any) -> str:
    return f"holdback_release:{label_id}"


def forfeit_reference(label_id: Any) -> str:
    return f"holdback_forfeit:{label_id}"


def adjustment_reference(label_id: Any, revision: int) -> str:
    return f"reward_adjustment:{label_id}:{revision}"


def _stats(project_id: Any, until: Any) -> ProjectStats:
    """The project's estimates at ``until``, kept for the labels of one item."""
    key = f"{project_id}:{until.isoformat() if until else ''}"
    if _stats_cache.get("key") != key:
        _stats_cache.clear()
        _stats_cache.update(key=key, stats=ProjectStats(project_id=project_id, until=until or timezone.now()))
    return _stats_cache["stats"]


def information_posting(
    *, label: Label, policy: RewardPolicy, consensus: ItemConsensus | None, budget: LedgerAccount
) -> dict[str, Any]:
    """The ledger posting of a label's reward under a policy of kind ``information`` (the
    arguments of ``ledger_post``; see the module's docstring)."""
    from rewards.services import reward_posting_build

    item = label.item
    breakdown = information_compute(
        label=label, policy=policy, consensus=consensus, stats=_stats(label.project_id, item.finalized_at)
    )
    payable = expert_account(kind=Kind.ANNOTATOR, expert_id=label.expert_id)
    held = expert_account(kind=Kind.HELD, expert_id=label.expert_id)
    held_reason = (
        f"held until the item settles ({policy.settle_seconds // 3600} h after it is final) and the "
        "annotator is in good standing"
    )
    if breakdown.get("held_in_full"):
        young, hours = young_labels(policy), policy.settle_seconds // 3600
        what = f"your first {young} labels in a project settle"
        if breakdown.get("held_in_full_why") == "windows":
            what = (
                f"the windows this label was rated on still hold your first {young} labels in the "
                "project; it settles"
            )
        held_reason = (
            f"held in full: {what} at the rate your record supports {hours} h after the item is final"
        )
    return reward_posting_build(
        label=label,
        legs=[(budget, -breakdown["amount"]), (payable, breakdown["paid"]), (held, breakdown["held"])],
        data={**breakdown, "held_reason": held_reason},
    )


# --- Release and forfeit ------------------------------------------------------------------------


def _group_status(*, project_id: Any, expert_id: Any) -> str | None:
    """``pending`` when the annotator is in a suspected group without a decision (the fitted
    model's, or a persisted one), ``confirmed`` when a decision found the group bad, else None."""
    try:
        member_model = apps.get_model("annotate", "AnnotatorGroupMember")
    except LookupError:
        member_model = None
    if member_model is not None:
        statuses = set(
            member_model.objects.filter(project_id=project_id, expert_id=expert_id).values_list(
                "group__status", flat=True
            )
        )
        if "confirmed" in statuses:
            return "confirmed"
        if "suspected" in statuses:
            return "pending"
    if suspected_group_members(project_id=project_id, expert_id=expert_id):
        return "pending"
    return None


def _verdict(txn: LedgerTransaction, now: dt.datetime) -> tuple[str, str]:
    """What happens to the held share of one reward now: ``release``, ``forfeit`` or ``wait``,
    with the reason."""
    label = Label.objects.select_related("excluded_by", "item").get(pk=txn.label_id)
    settle = dt.timedelta(seconds=int(txn.data.get("settle_seconds") or 0))
    suspension = label.excluded_by
    if label.excluded_from_consensus and suspension is not None:
        if suspension.appeal == ProjectSuspension.Appeal.REINSTATED:
            pass  # the suspension was wrong: the label is good
        elif suspension.appeal == ProjectSuspension.Appeal.UPHELD:
            return "forfeit", "suspension upheld: the label is excluded"
        elif suspension.appeal == ProjectSuspension.Appeal.PENDING or suspension.created_at + settle > now:
            return "wait", "suspended: waiting for the appeal or the settling period"
        else:
            return "forfeit", "suspension not appealed within the settling period"
    elif label.excluded_from_consensus:
        return "forfeit", "label excluded from consensus"
    group = _group_status(project_id=label.project_id, expert_id=label.expert_id)
    if group == "confirmed":
        return "forfeit", "group decision: the annotator's group was confirmed"
    if group == "pending":
        return "wait", "in a suspected group awaiting a decision"
    if label.item.state != Item.State.FINAL:
        return "wait", "item re-opened"
    if txn.created_at + settle > now:
        return "wait", "settling period"
    standing = (
        ProjectSuspension.objects.filter(project_id=label.project_id, expert_id=label.expert_id, active=True)
        .exclude(appeal=ProjectSuspension.Appeal.REINSTATED)
        .order_by("-created_at")
        .first()
    )
    if standing is not None:
        if standing.appeal == ProjectSuspension.Appeal.PENDING or (
            standing.appeal != ProjectSuspension.Appeal.UPHELD and standing.created_at + settle > now
        ):
            return "wait", "annotator suspended in the project: waiting for the appeal or the settling period"
        # The suspension stands; a label it did not exclude is settled like any other, at the
        # rate the annotator's record supports now (rewards.topups).
        return "release", "settled after a suspension that stands: at the rate the record supports"
    return "release", "settled"


@transaction.atomic
def holdback_move(
    *, reward: LedgerTransaction, verdict: str, reason: str, actor: Any = None, now: dt.datetime | None = None
) -> LedgerTransaction | None:
    """Release (held -> payable) or forfeit (held -> lab budget) one reward's held share, once.
    A label whose share was released is never forfeited, and the other way round. A release
    also posts the reward's settlement top-up (:mod:`rewards.topups`) in the same transaction."""
    held_amount = int(reward.data.get("held") or 0)  # 0 still settles: no entries, a top-up may follow
    held = expert_account(kind=Kind.HELD, expert_id=reward.expert_id)
    if verdict == "release":
        target = expert_account(kind=Kind.ANNOTATOR, expert_id=reward.expert_id)
        kind, reference, other = (
            TxnKind.HOLDBACK_RELEASE,
            release_reference(reward.label_id),
            forfeit_reference(reward.label_id),
        )
    else:
        target = lab_budget_account(lab_id=reward.lab_id)
        kind, reference, other = (
            TxnKind.HOLDBACK_FORFEIT,
            forfeit_reference(reward.label_id),
            release_reference(reward.label_id),
        )

    def not_moved_otherwise(locked: dict[int, LedgerAccount]) -> None:
        if LedgerTransaction.objects.filter(reference=other).exists():
            raise ApplicationError(
                "The held share was already moved.", code="holdback_closed", status_code=409
            )

    txn, created = ledger_post(
        kind=kind,
        reference=reference,
        legs=[(held, -held_amount), (target, held_amount)],
        memo=reason[:500],
        actor=actor,
        lab_id=reward.lab_id,
        project_id=reward.project_id,
        expert_id=reward.expert_id,
        label_id=reward.label_id,
        data={"reason": reason, "reward": str(reward.uid), "held": str(held_amount)},
        check=not_moved_otherwise,
    )
    if created and verdict == "release":
        was_right, seen, per_right = _label_terms(reward)
        now = now or timezone.now()
        reward_topup(
            reward=reward,
            right_now=_regraded(reward, was_right),
            right_paid=per_right if was_right else 0,
            revisions_seen=seen,
            now=now,
            stats=_stats(reward.project_id, now),
        )
    if created and verdict == "forfeit" and held_amount:
        audit_record(
            action="reward.holdback_forfeit",
            target=txn,
            actor=actor,
            data={"label": str(reward.label_id), "amount": str(held_amount), "reason": reason},
        )
    return txn


def holdbacks_open(*, expert_id: Any = None, project_id: Any = None, limit: int | None = None):
    """Rewards not yet settled (their held share, possibly 0, neither released nor forfeited),
    oldest first."""
    closed = LedgerTransaction.objects.filter(
        kind__in=(TxnKind.HOLDBACK_RELEASE, TxnKind.HOLDBACK_FORFEIT)
    ).values("label_id")
    rewards = (
        LedgerTransaction.objects.filter(kind=TxnKind.REWARD, data__kind=RewardPolicy.Kind.INFORMATION)
        .exclude(label_id__in=closed)
        .order_by("created_at", "id")
    )
    if expert_id is not None:
        rewards = rewards.filter(expert_id=expert_id)
    if project_id is not None:
        rewards = rewards.filter(project_id=project_id)
    return rewards[:limit] if limit else rewards


def holdbacks_settle(
    *,
    now: dt.datetime | None = None,
    limit: int = 1000,
    after_id: int = 0,
    until: float | None = None,
    project_id: Any = None,
) -> dict[str, Any]:
    """Release or forfeit every held share whose verdict is due (the periodic task). Idempotent:
    each move has its unique reference. Walks the open holdbacks in id order from ``after_id``,
    at most ``limit`` and until the slice ``until`` ends (rlhf_platform/core/slices.py);
    ``resume_after`` is the id to go on after, or None when every open holdback was seen.
    ``project_id`` settles one project's only."""
    now = now or timezone.now()
    counts: dict[str, Any] = {"release": 0, "forfeit": 0, "wait": 0, "resume_after": None}
    page = list(holdbacks_open(project_id=project_id).filter(id__gt=after_id).order_by("id")[:limit])
    for reward in page:
        verdict, reason = _verdict(reward, now)
        counts[verdict] += 1
        if verdict != "wait":
            try:
                holdback_move(reward=reward, verdict=verdict, reason=reason, now=now)
            except ApplicationError as exc:
                if exc.code != "holdback_closed":
                    raise
        if slice_over(until) and reward is not page[-1]:
            counts["resume_after"] = reward.id
            return counts
    if len(page) == limit:
        counts["resume_after"] = page[-1].id
    return counts


def holdbacks_pending(*, expert_id: Any) -> list[dict[str, Any]]:
    """The expert's held shares with why each is held now (their statement's "pending")."""
    now = timezone.now()
    rows = []
    for reward in holdbacks_open(expert_id=expert_id).exclude(data__held=0)[:200]:
        verdict, reason = _verdict(reward, now)
        rows.append(
            {
                "label": str(reward.label_id),
                "held": int(reward.data.get("held") or 0),
                "since": reward.created_at,
                "reason": reason if verdict == "wait" else f"{reason}: due at the next settlement",
            }
        )
    return rows


# --- Adjustments ----------------------------------------------------------------------------------


def _regraded(reward: LedgerTransaction, was_right: bool | None) -> bool | None:
    """Whether a label graded against its item's consensus is right at settlement: against the
    consensus as it is now, and with the annotator's gold record as it is now (an agreement the
    label carried itself counts only with a good record, :func:`agrees_on_its_own`). An expert
    whose record was still short when their vote overturned a wrong majority is paid at
    settlement; an account whose record went bad since is not. A gold label keeps its grade."""
    if (reward.data or {}).get("reference") != "consensus":
        return was_right
    label = Label.objects.select_related("project").filter(pk=reward.label_id).first()
    consensus = ItemConsensus.objects.filter(item_id=label.item_id).first() if label else None
    if label is None or consensus is None:
        return was_right
    return label_right(label=label, consensus=consensus)


def _label_terms(reward: LedgerTransaction) -> tuple[bool | None, int, int]:
    """The label's right-state after its latest adjustment (or its reward), how many revisions
    that took into account, and what its right term pays when right (the reward's rate, or the
    latest adjustment's: a settlement top-up raises it, and each adjustment carries it on)."""
    last = (
        LedgerTransaction.objects.filter(kind=TxnKind.REWARD_ADJUSTMENT, label_id=reward.label_id)
        .order_by("-created_at", "-id")
        .values_list("data", flat=True)
        .first()
    )
    data = last if last is not None else reward.data
    rate = data.get("right_amount_if_right")
    if rate is None:
        rate = reward.data.get("right_amount_if_right")
    return data.get("right"), int(data.get("revisions_seen") or 0), int(rate or 0)


@transaction.atomic
def reward_adjust(*, reward: LedgerTransaction) -> LedgerTransaction | None:
    """Post the adjustment of one reward for its item's latest consensus revision, once."""
    consensus = ItemConsensus.objects.filter(item__labels__id=reward.label_id).first()
    if consensus is None:
        return None
    revisions = consensus.revisions or []
    was_right, seen, per_right = _label_terms(reward)
    if len(revisions) <= seen or reward.data.get("reference") == "gold":
        return None
    label = Label.objects.get(pk=reward.label_id)
    if label.excluded_from_consensus:
        return None  # the clawback and the forfeit take care of it
    right = bool(label.choice) and label.choice == consensus.choice
    delta = (per_right if right else 0) - (per_right if was_right else 0)
    revision = revisions[-1]
    reason = f"consensus revised ({revision.get('reason', 'revision')}): now {consensus.choice or 'none'}"
    payable = expert_account(kind=Kind.ANNOTATOR, expert_id=reward.expert_id)
    budget = lab_budget_account(lab_id=reward.lab_id)
    txn, created = ledger_post(
        kind=TxnKind.REWARD_ADJUSTMENT,
        reference=adjustment_reference(reward.label_id, len(revisions)),
        legs=[(budget, -delta), (payable, delta)],
        memo=reason[:500],
        lab_id=reward.lab_id,
        project_id=reward.project_id,
        expert_id=reward.expert_id,
        label_id=reward.label_id,
        data={
            "reason": reason,
            "revision": revision,
            "right": right,
            "was_right": was_right,
            "revisions_seen": len(revisions),
            "right_amount_if_right": per_right,  # carried on for the next revision
            "adjustment": str(delta),
            "reward": str(reward.uid),
        },
    )
    if created and delta:
        audit_record(
            action="reward.adjustment",
            target=txn,
            data={"label": str(reward.label_id), "amount": str(delta), "reason": reason},
        )
    return txn


def reward_adjustments_post(*, limit: int = 1000) -> int:
    """Adjust the rewards of labels on final items whose consensus was revised after the reward.
    Returns how many adjustments were posted."""
    return reward_adjustments_slice(limit=limit)[0]


def reward_adjustments_slice(
    *, after_id: int = 0, limit: int = 1000, until: float | None = None
) -> tuple[int, int | None]:
    """:func:`reward_adjustments_post` over the rewards after ``after_id`` in id order, at most
    ``limit`` and until the slice ``until`` ends (the periodic task). Returns the adjustments
    posted and the id to go on after (None when every reward was seen)."""
    revised_items = (
        ItemConsensus.objects.exclude(revisions=[]).exclude(revisions__isnull=True).values("item_id")
    )
    rewards = list(
        LedgerTransaction.objects.filter(
            kind=TxnKind.REWARD,
            data__kind=RewardPolicy.Kind.INFORMATION,
            label__item_id__in=revised_items,
            id__gt=after_id,
        ).order_by("id")[:limit]
    )
    count = 0
    for reward in rewards:
        if reward_adjust(reward=reward) is not None:
            count += 1
        if slice_over(until) and reward is not rewards[-1]:
            return count, reward.id
    return count, rewards[-1].id if len(rewards) == limit else None
