"""Every change of state in rewards: policy versions, rewards for final items, clawbacks
(budget credits are in ``rewards.credits``). Each posting goes through ``rewards.ledger``
(``ledger_post``; rewards through ``rewards.posting``, by ``ledger_post_many``), idempotent by
reference.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotate.models import Label, Project, ProjectSuspension
from rewards.ledger import expert_account, lab_budget_account, ledger_post
from rewards.models import LedgerAccount, LedgerTransaction, RewardPolicy
from rewards.policy import LEVELS
from rewards.posting import reward_posting_build as reward_posting_build  # for rewards.holdbacks
from rewards.posting import reward_reference, rewards_post
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.slices import slice_over

logger = logging.getLogger(__name__)

MAX_BP = 1_000_000  # 100x: a multiplier or weight above this is a typo, not a policy

# Seconds of clock difference tolerated between a caller's "now" and ours.
EFFECTIVE_FROM_LEEWAY = dt.timedelta(seconds=60)


def clawback_reference(label_id: Any) -> str:
    return f"clawback:{label_id}"


def clawback_reversal_reference(label_id: Any) -> str:
    return f"clawback_reversal:{label_id}"


# --- Policies --------------------------------------------------------------------------------


def _bp(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BP:
        raise ApplicationError(f"{field} must be an integer of basis points, 0 to {MAX_BP}.", field=field)
    return value


def token_amount_clean(value: Any, field: str) -> int:
    """A token amount from input: an int or a decimal string of base units, 0 up to a uint256."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 10**78:
        raise ApplicationError(f"{field} must be a whole number of token base units, 0 or more.", field=field)
    return value


@transaction.atomic
def reward_policy_create(
    *,
    project: Project,
    base_rate: int | str,
    level_multipliers_bp: dict[str, int],
    agreement_full_bp: int = 10_000,
    agreement_partial_bp: int = 5_000,
    agreement_none_bp: int = 0,
    consensus_min_confidence_bp: int = 8_000,
    gold_window: int = 10,
    gold_min_seen: int = 5,
    gold_min_accuracy_bp: int = 7_000,
    min_reward: int | str = 0,
    kind: str = RewardPolicy.Kind.AGREEMENT,
    peer_weight_bp: int = 10_000,
    right_weight_bp: int = 10_000,
    score_window: int = 50,
    score_prior: int = 5,
    evidence_z_hundredths: int = 200,
    holdback_bp: int = 2_000,
    settle_seconds: int = 7 * 86_400,
    effective_from: dt.datetime | None = None,
    actor: Any = None,
    api_key: Any = None,
) -> RewardPolicy:
    """A new version of the project's reward policy. It applies to labels whose item is
    finalised at or after ``effective_from`` (now by default; never in the past, so no earlier
    reward is ever recomputed)."""
    now = timezone.now()
    effective_from = effective_from or now
    if effective_from < now - EFFECTIVE_FROM_LEEWAY:
        raise ApplicationError(
            "effective_from may not be in the past: history is never rewritten.",
            code="in_the_past",
            field="effective_from",
        )
    multipliers = {str(k): v for k, v in (level_multipliers_bp or {}).items()}
    if set(multipliers) != set(LEVELS):
        raise ApplicationError(
            "level_multipliers_bp needs exactly the levels 1, 2, 3 and 4.", field="level_multipliers_bp"
        )
    for level, value in multipliers.items():
        _bp(value, f"level_multipliers_bp.{level}")
    for name, value in (
        ("agreement_full_bp", agreement_full_bp),
        ("agreement_partial_bp", agreement_partial_bp),
        ("agreement_none_bp", agreement_none_bp),
        ("consensus_min_confidence_bp", consensus_min_confidence_bp),
        ("gold_min_accuracy_bp", gold_min_accuracy_bp),
    ):
        _bp(value, name)
    if consensus_min_confidence_bp > 10_000 or gold_min_accuracy_bp > 10_000:
        raise ApplicationError("Confidence and accuracy thresholds are at most 10000 bp.", field=None)
    if not agreement_full_bp >= agreement_partial_bp >= agreement_none_bp:
        raise ApplicationError(
            "Weights must not increase as agreement falls (full >= partial >= none).",
            field="agreement_partial_bp",
        )
    if kind not in RewardPolicy.Kind.values:
        raise ApplicationError(f"kind must be one of {', '.join(RewardPolicy.Kind.values)}.", field="kind")
    if kind == RewardPolicy.Kind.INFORMATION and (project.label_schema or {}).get("kind") != "pairwise":
        raise ApplicationError(
            "A policy of kind information scores pairwise choices: this project ranks responses.",
            code="kind_needs_pairwise",
            field="kind",
        )
    _bp(peer_weight_bp, "peer_weight_bp")
    _bp(right_weight_bp, "right_weight_bp")
    if _bp(holdback_bp, "holdback_bp") > 10_000:
        raise ApplicationError("holdback_bp is at most 10000 bp.", field="holdback_bp")
    if (
        isinstance(settle_seconds, bool)
        or not isinstance(settle_seconds, int)
        or not 0 <= settle_seconds <= 366 * 86_400
    ):
        raise ApplicationError("settle_seconds must be an integer from 0 to a year.", field="settle_seconds")
    for name, value in (
        ("gold_window", gold_window),
        ("gold_min_seen", gold_min_seen),
        ("score_window", score_window),
        ("score_prior", score_prior),
        ("evidence_z_hundredths", evidence_z_hundredths),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
            raise ApplicationError(f"{name} must be an integer from 0 to 1000.", field=name)
    # Versions of one project are numbered under the project's row lock: two creations at the
    # same moment get 1 and 2, not a duplicate.
    Project.objects.select_for_update().only("id").get(pk=project.pk)
    latest = RewardPolicy.objects.filter(project=project).order_by("-version").first()
    if latest is not None and effective_from < latest.effective_from:
        raise ApplicationError(
            f"effective_from must not precede that of version {latest.version}.",
            code="before_latest_version",
            field="effective_from",
        )
    policy = RewardPolicy.objects.create(
        project=project,
        version=(latest.version + 1) if latest else 1,
        base_rate=token_amount_clean(base_rate, "base_rate"),
        level_multipliers_bp=dict(sorted(multipliers.items())),
        agreement_full_bp=agreement_full_bp,
        agreement_partial_bp=agreement_partial_bp,
        agreement_none_bp=agreement_none_bp,
        consensus_min_confidence_bp=consensus_min_confidence_bp,
        gold_window=gold_window,
        gold_min_seen=gold_min_seen,
        gold_min_accuracy_bp=gold_min_accuracy_bp,
        min_reward=token_amount_clean(min_reward, "min_reward"),
        kind=kind,
        peer_weight_bp=peer_weight_bp,
        right_weight_bp=right_weight_bp,
        score_window=score_window,
        score_prior=score_prior,
        evidence_z_hundredths=evidence_z_hundredths,
        holdback_bp=holdback_bp,
        settle_seconds=settle_seconds,
        effective_from=effective_from,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_by_key=api_key,
    )
    audit_record(
        action="reward_policy.create",
        target=project,
        actor=actor,
        api_key=api_key,
        data={
            "version": policy.version,
            "policy_id": policy.pk,
            "kind": policy.kind,
            "base_rate": str(policy.base_rate),
        },
    )
    return policy


# --- Rewards ---------------------------------------------------------------------------------


def label_reward(*, label_id: Any) -> LedgerTransaction | None:
    """Post the reward of one label of a final item (once: the reference is the label's id).

    Nothing for gold labels, labels excluded from consensus (unless by a suspension reinstated
    on appeal), items not final, or a project without a policy in force when the item was
    finalised. A reward of 0 is still posted (a
    transaction without entries) so the expert's statement shows why.

    The lab's budget is charged even if that takes it below zero: the expert did the work the
    queue gave them. The queue hands out no work the budget cannot pay (the budget gate and
    its lease guard in ``rewards.selectors`` count this reward as committed until it is
    posted), so the balance does not go below zero.
    """
    item_id = Label.objects.filter(pk=label_id).values_list("item_id", flat=True).first()
    if item_id is None:
        return None
    posted = _rewards_post(item_id=item_id, label_id=label_id)
    return posted[0] if posted else None


def item_rewards(*, item_id: Any) -> list[LedgerTransaction]:
    """Reward every label of a final item (what :func:`label_reward` does for each), posted
    together in one database transaction: all or none, and a retry posts only what is
    missing. An item not final, or of a project without a policy in force when it was
    finalised, costs two reads."""
    return _rewards_post(item_id=item_id)


def _rewards_post(*, item_id: Any, label_id: Any = None) -> list[LedgerTransaction]:
    """The rewards of the item's labels (of the one label ``label_id`` when given), posted by
    :func:`rewards.posting.rewards_post`; each label's reward, new or already posted, in label
    order."""
    return list(rewards_post(item_ids=[item_id], label_id=label_id).values())


# --- Clawbacks -------------------------------------------------------------------------------


@transaction.atomic
def label_clawback(*, label_id: Any, reason: str, actor: Any = None) -> LedgerTransaction | None:
    """Reverse a label's reward with a new transaction (annotator -> lab budget), once.
    Returns None when the label earned nothing. The annotator's payable balance may go below
    zero when the reward was already paid out: the debt is set off against later rewards."""
    return _label_counter_posting(
        label_id=label_id,
        undoes=reward_reference(label_id),
        kind=LedgerTransaction.Kind.CLAWBACK,
        reference=clawback_reference(label_id),
        to_annotator=False,
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def label_clawback_reverse(*, label_id: Any, reason: str, actor: Any = None) -> LedgerTransaction | None:
    """Give back what a clawback took (lab budget -> annotator), once. None when the label
    has no clawback."""
    return _label_counter_posting(
        label_id=label_id,
        undoes=clawback_reference(label_id),
        kind=LedgerTransaction.Kind.CLAWBACK_REVERSAL,
        reference=clawback_reversal_reference(label_id),
        to_annotator=True,
        reason=reason,
        actor=actor,
    )


def _label_counter_posting(
    *, label_id: Any, undoes: str, kind: str, reference: str, to_annotator: bool, reason: str, actor: Any
) -> LedgerTransaction | None:
    """Move the amount of the posting ``undoes`` back between the annotator and the lab's
    budget, once (``reference``), audited as ``reward.<kind>``. None when there is nothing to
    move."""
    source = LedgerTransaction.objects.filter(reference=undoes).first()
    if source is None or int(source.amount) == 0:
        return None
    # A reward with a held share: only the paid share is on the payable account (the held
    # share is forfeited by rewards.holdbacks).
    amount = int(source.amount)
    if source.kind == LedgerTransaction.Kind.REWARD:
        amount = int(source.data.get("paid", amount))
    if amount == 0:
        return None
    annotator = expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=source.expert_id)
    budget = lab_budget_account(lab_id=source.lab_id)
    txn, created = ledger_post(
        kind=kind,
        reference=reference,
        legs=[(budget, -amount), (annotator, amount)]
        if to_annotator
        else [(annotator, -amount), (budget, amount)],
        memo=reason[:500],
        actor=actor,
        lab_id=source.lab_id,
        project_id=source.project_id,
        expert_id=source.expert_id,
        label_id=label_id,
        data={"reason": reason, source.kind: str(source.uid), f"{source.kind}_amount": str(amount)},
    )
    if created:
        audit_record(
            action=f"reward.{kind}",
            target=txn,
            actor=actor,
            data={"label": str(label_id), "amount": str(amount), "reason": reason},
        )
    return txn


def labels_pay_after_reinstatement(*, label_ids: list[Any], actor: Any = None) -> list[LedgerTransaction]:
    """Pay an expert reinstated on appeal for the labels the suspension excluded on items that
    became final meanwhile: reverse a clawback where one was taken, otherwise post the reward
    the exclusion withheld (idempotent either way). Runs in the decision's transaction."""
    posted = []
    for label_id in label_ids:
        if LedgerTransaction.objects.filter(reference=clawback_reference(label_id)).exists():
            txn = label_clawback_reverse(
                label_id=label_id, reason="suspension reinstated on appeal", actor=actor
            )
        else:
            txn = label_reward(label_id=label_id)
        if txn is not None:
            posted.append(txn)
    return posted


def clawbacks_reconcile(*, limit: int = 1000, until: float | None = None) -> int:
    """Claw back rewarded labels that were later excluded from consensus (a suspension, an
    audit), except those of a suspension reinstated on appeal. The periodic task runs it;
    returns how many were clawed back."""
    clawed = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.CLAWBACK, label_id=OuterRef("label_id")
    )
    due = (
        LedgerTransaction.objects.filter(
            kind=LedgerTransaction.Kind.REWARD, label__excluded_from_consensus=True
        )
        .exclude(amount=0)
        .exclude(label__excluded_by__appeal=ProjectSuspension.Appeal.REINSTATED)
        .filter(~Exists(clawed))
        .values_list("label_id", flat=True)[:limit]
    )
    count = 0
    for label_id in list(due):
        if label_clawback(label_id=label_id, reason="label excluded from consensus") is not None:
            count += 1
        if slice_over(until):  # the slice is over (rlhf_platform/core/slices.py)
            break
    return count
