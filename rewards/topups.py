"""The settlement of a reward of kind ``information``: rated again, up or down.

A reward is computed when its item is final, with the annotator's windows as they stand then:
the peer term's average over their last ``score_window`` scores and the right term's
chance-corrected accuracy, each shrunk by ``score_prior`` pseudo-scores of 0. On an account's
first labels the windows are short, so that rate is an immature estimate: an honest annotator
is paid a fraction of their rate (the shrinkage that keeps an item-ignoring account's clipped
noise small), and an account that works carefully until it has a record and then stops looking
at the items is paid for the care it no longer takes. While the record is shorter than the
window, the whole reward is held (``rewards.policy_information``).

When the held share is released (the settling period has passed, the item is final, the
annotator is in good standing), each term is rated again with the windows as they stand at
settlement, and the label settles at that rate (lab budget <-> payable, reference
``reward_settle:<label>``, a reward adjustment whose data gives both rates):

- a term that rates higher is topped up;
- a term that rates lower is cut, out of the held share only, never out of what was paid
  (the right term first, so that a later revision of the consensus moves the settled rate),
  and never below its rate without the evidence gate: the gate decides what a settlement adds.
  A label held in full (a young record's) has no such floor: nothing of it was paid, so it
  settles at the gated rate either way.

An item-ignoring account's windows at settlement average to about 0, so it gains nothing and
its held shares are cut; an honest one's early labels are brought to its settled rate.

The top-up is paid only from what the lab's budget holds beyond its commitments (work handed
out and not yet paid, :func:`~rewards.selectors.lab_commitments`), checked under the budget's
lock, so it never takes money the queue's budget gate has promised; otherwise it is not paid
and the release says so.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from django.conf import settings

from annotate.models import Label
from rewards.ledger import expert_account, lab_budget_account, ledger_post
from rewards.models import LedgerAccount, LedgerTransaction, RewardPolicy
from rewards.peer_prediction import ProjectStats, evidence_z, peer_average, peer_gate, peer_scores
from rewards.policy_information import BP, _known_window, right_rate
from rlhf_platform.core.exceptions import ApplicationError

TxnKind = LedgerTransaction.Kind


def topup_reference(label_id: Any) -> str:
    return f"reward_settle:{label_id}"


def topup_compute(
    *,
    reward: LedgerTransaction,
    right_now: bool | None,
    right_paid: int,
    now: dt.datetime,
    stats: ProjectStats,
    held: int = 0,
) -> dict[str, Any]:
    """The reward rated with the windows at ``now``, and the settlement over what was paid:
    ``right_now`` is whether the label is right after any adjustments, ``right_paid`` the right
    term paid so far (the reward's and adjustments'), ``held`` the held share being released
    (what a cut may take). ``topup`` is the net amount, negative for a cut."""
    data = reward.data or {}
    policy = RewardPolicy.objects.filter(pk=data.get("policy_id")).first()
    label = Label.objects.filter(pk=reward.label_id).first()
    if policy is None or label is None:
        return {"topup": 0, "reason": "no policy or label"}
    base, multiplier_bp = int(policy.base_rate), int(data.get("multiplier_bp") or 0)

    scores = peer_scores(expert_id=reward.expert_id, project_id=reward.project_id, limit=policy.score_window)
    # The evidence gate decides what a settlement adds, not what it takes back: a term is topped
    # up to its gated rate (the window must show information now), and cut no lower than the
    # window's rate without the gate. A window that showed its information when the label was
    # paid and sits just below the gate at settlement keeps what it was paid; an item-ignoring
    # window rates about 0 either way. A label held in full was paid nothing: its rate was an
    # immature estimate, so it settles at the gated rate, down as well as up (no floor). Else an
    # account careful until it has a record and item-ignoring after it keeps, on every label of
    # its young record, its spam window's clipped noise.
    young = bool(data.get("held_in_full"))
    z = evidence_z(policy)
    window = _known_window(label=label, policy=policy, until=now)
    rate = right_rate(window=window, reference=stats.reference, prior=policy.score_prior, z=z)
    p = peer_average(scores, policy.score_prior, peer_gate(z, rate))
    peer_now = int(base * multiplier_bp * policy.peer_weight_bp * p // (BP * BP))
    p_floor = peer_average(scores, policy.score_prior)
    peer_floor = 0 if young else int(base * multiplier_bp * policy.peer_weight_bp * p_floor // (BP * BP))

    per_right = min(Fraction(rate["per_right"]), Fraction(1))
    right_if_right_now = int(base * multiplier_bp * policy.right_weight_bp * per_right // (BP * BP))
    right_due = right_if_right_now if right_now else 0
    plain = right_rate(window=window, reference=stats.reference, prior=policy.score_prior)
    per_right_floor = min(Fraction(plain["per_right"]), Fraction(1))
    right_floor = int(base * multiplier_bp * policy.right_weight_bp * per_right_floor // (BP * BP))
    right_floor = right_floor if right_now and not young else 0

    peer_paid = int(data.get("peer_amount") or 0)
    peer_top = max(0, peer_now - peer_paid)
    right_top = max(0, right_due - right_paid)
    room = max(0, held)
    right_cut = min(room, max(0, right_paid - max(right_due, right_floor)))
    peer_cut = min(room - right_cut, max(0, peer_paid - max(peer_now, peer_floor)))
    # What the right term pays when right from now on (a later revision moves it): what it holds
    # after this settlement, or the settled rate for a label that is not right now.
    if right_now:
        carried = right_paid + right_top - right_cut
    elif right_cut:
        carried = right_if_right_now
    else:
        carried = max(right_if_right_now, int(data.get("right_amount_if_right") or 0))
    return {
        "topup": peer_top + right_top - peer_cut - right_cut,
        "peer": {
            "p": str(p),
            "window": len(scores),
            "amount_now": peer_now,
            "amount_floor": peer_floor,
            "paid": peer_paid,
        },
        "right": right_now,
        "right_window": {k: rate[k] for k in ("n", "hits", "chance", "g", "per_right", "shown")},
        "right_amount_if_right": carried,
        "right_paid": right_paid,
        "peer_topup": peer_top,
        "right_topup": right_top,
        "peer_cut": peer_cut,
        "right_cut": right_cut,
    }


def reward_topup(
    *,
    reward: LedgerTransaction,
    right_now: bool | None,
    right_paid: int,
    revisions_seen: int,
    now: dt.datetime,
    stats: ProjectStats,
) -> LedgerTransaction | None:
    """Post the settlement of one reward (see the module), once: a top-up, or a cut out of the
    held share just released; None when there is nothing to move or the lab's budget beyond its
    commitments does not cover a top-up. Called in the release's transaction, after the held
    share reached the payable account."""
    from rewards.policy import policy_max_reward
    from rewards.selectors import commitments_cache, commitments_cached, lab_commitments

    rated = topup_compute(
        reward=reward,
        right_now=right_now,
        right_paid=right_paid,
        now=now,
        stats=stats,
        held=int((reward.data or {}).get("held") or 0),
    )
    amount = int(rated["topup"])
    if amount == 0:
        return None
    budget = lab_budget_account(lab_id=reward.lab_id)
    policy = RewardPolicy.objects.filter(pk=(reward.data or {}).get("policy_id")).first()
    far = policy_max_reward(policy) * int(getattr(settings, "REWARDS_GATE_EXACT_MARGIN_LABELS", 1000))
    payable = expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=reward.expert_id)

    def covered(locked: dict[int, LedgerAccount]) -> None:
        if amount < 0:
            return  # a cut returns money to the budget
        balance = locked[budget.pk].balance
        cached = commitments_cached(lab_id=reward.lab_id)
        if cached is not None and balance - cached[0] - amount >= far:
            return  # far from the end, as the budget gate reads it (its cache and margin)
        committed = lab_commitments(lab_id=reward.lab_id)
        commitments_cache(lab_id=reward.lab_id, committed=committed)
        if balance - committed < amount:
            raise ApplicationError(
                "The lab's budget beyond its commitments does not cover the top-up.", code="budget_exhausted"
            )

    reason = "settled: rated again with the annotator's windows at settlement"
    if amount < 0:
        reason = "settled lower: rated again with the windows at settlement, cut from the held share"
    try:
        txn, _created = ledger_post(
            kind=TxnKind.REWARD_ADJUSTMENT,
            reference=topup_reference(reward.label_id),
            legs=[(budget, -amount), (payable, amount)],
            memo=reason,
            lab_id=reward.lab_id,
            project_id=reward.project_id,
            expert_id=reward.expert_id,
            label_id=reward.label_id,
            data={
                **rated,
                "reason": reason,
                "adjustment": str(amount),
                "revisions_seen": revisions_seen,
                "reward": str(reward.uid),
            },
            check=covered,
        )
    except ApplicationError as exc:
        if exc.code != "budget_exhausted":
            raise
        return None
    return txn
