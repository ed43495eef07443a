"""What a label earns under a policy of kind ``information``: pay for the information in the
label, not for agreement with a consensus a group can capture.

    amount = peer amount + right amount
    peer amount  = floor(base_rate x level multiplier x peer weight  x P)
    right amount = floor(base_rate x level multiplier x right weight x R), R = 0 on a wrong label

P, the peer-prediction term (Correlated Agreement, Shnayder, Agarwal, Frongillo and Parkes,
2016). For the label ``x_a(i)`` of annotator a on item i, each peer b with a counted label on i
(never a, never a member of a's suspected group) gives the score

    s = S(x_a(i), x_b(i)) - S(x_a(j), x_b(k))

with j an item a labelled other than i and k an item b labelled other than i and j, both drawn
by a generator seeded with the label's id (a recompute draws the same), among labels created
before the item was finalised. ``S(x, y) = 1`` when ``Delta(x, y) > 0``, where Delta is the
joint distribution of two annotators' answers on one item minus the product of the marginals,
estimated from the project's recent pairs of labels (identity before there are enough). The
label's score is the mean over its peers; P is the mean of the annotator's last
``score_window`` scores in the project (this one included), with ``score_prior`` pseudo-scores
of 0 added, clipped at 0: ``P = max(0, sum s / (n + prior))``.

R, being right where the answer is known. Over the annotator's last ``score_window`` labels
in the project whose answer is known (graded gold labels, lab gold or silver gold, by their
grade; ordinary labels of final items, against the item's gold-anchored consensus), with
``hits`` right of ``n``, and ``b`` the agreement the annotator would reach by chance (their
answer distribution over the window times the project's answer distribution):

    G = max(0, (hits - n x b) / (n + prior))      (chance-corrected accuracy, shrunk, clipped)
    R = G x n / hits on a right label, 0 on a wrong one

so the window's labels together earn ``n x G``, all of it on the right labels. Both terms are
0 in expectation for any answer that ignores the item, before clipping; see docs/rewards.md.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import Q

from annotate.models import Item, ItemConsensus, Label
from annotate.quality.silver import gold_record_is_good
from annotate.queue.eligibility import is_senior
from rewards.models import LedgerTransaction, RewardPolicy
from rewards.peer_prediction import (
    ProjectStats,
    evidence_z,
    peer_average,
    peer_gate,
    peer_score,
    peer_window,
    shows_information,
)
from rlhf_platform.experts.selectors import expertise_level

BP = 10_000
FORMULA = (
    "floor(base x level x peer_weight x P) + floor(base x level x right_weight x R); "
    "a share held back until the item settles"
)


def information_max_reward(policy: RewardPolicy) -> int:
    """The most one label can earn: P <= 1 and R <= 1."""
    best_bp = max(int(v) for v in policy.level_multipliers_bp.values())
    base = int(policy.base_rate)
    return base * best_bp * policy.peer_weight_bp // (BP * BP) + base * best_bp * policy.right_weight_bp // (
        BP * BP
    )


def information_level_max(policy: RewardPolicy, level: int) -> int:
    """The most one label of an expert at ``level`` can earn."""
    mult = int(policy.level_multipliers_bp.get(str(level), 0))
    base = int(policy.base_rate)
    return base * mult * policy.peer_weight_bp // (BP * BP) + base * mult * policy.right_weight_bp // (
        BP * BP
    )


# --- The right term -----------------------------------------------------------------------------


def _known_window(
    *, label: Label, policy: RewardPolicy, until: Any, trusted: bool | None = None
) -> list[tuple[str, bool]]:
    """(choice, right) of the annotator's last ``score_window`` labels whose answer is known."""
    return [
        (choice, right)
        for _at, choice, right in known_rows(label=label, policy=policy, until=until, trusted=trusted)
    ]


def known_rows(
    *, label: Label, policy: RewardPolicy, until: Any, trusted: bool | None = None
) -> list[tuple[Any, str, bool]]:
    """(created at, choice, right) of the annotator's last ``score_window`` labels whose answer
    is known, newest first."""
    size = policy.score_window
    graded = (
        Label.objects.filter(
            expert_id=label.expert_id,
            project_id=label.project_id,
            gold_passed__isnull=False,
            created_at__lte=until,
        )
        .order_by("-created_at")
        .values_list("created_at", "choice", "gold_passed")[:size]
    )
    if trusted is None:
        trusted = gold_record_good(label=label)
    # An untrusted annotator's tie-breaking agreements are left out below: read twice the window
    # so that it still fills.
    reach = size if trusted else 2 * size
    # The annotator's whole record, labels a suspension excluded from consensus included: the
    # rate measures their answers, and being caught must not clean the record that pays for the
    # labels before the change point.
    ordinary = list(
        Label.objects.filter(
            expert_id=label.expert_id,
            project_id=label.project_id,
            is_gold=False,
            gold_passed__isnull=True,
            item__state=Item.State.FINAL,
            created_at__lte=until,
        )
        .filter(Q(item__finalized_at__lte=until) | Q(item_id=label.item_id))
        .exclude(choice="")
        .exclude(item__consensus__choice="")
        .exclude(item__consensus__isnull=True)
        .order_by("-created_at")
        .values_list("created_at", "choice", "item__consensus__choice", "loo_choice", "item_id")[:reach]
    )
    others = (
        {} if trusted else other_answers(item_ids=[row[4] for row in ordinary], expert_id=label.expert_id)
    )
    rows = [(at, choice, bool(passed)) for at, choice, passed in graded]
    for at, choice, reference, loo, item_id in ordinary:
        right = agrees_on_its_own(
            choice=choice,
            reference=reference,
            loo=loo,
            trusted=trusted,
            tie=breaks_a_tie(choice, others.get(item_id)),
        )
        if right is not None:  # unknown: it broke a tie among the item's other labels
            rows.append((at, choice, right))
    rows.sort(key=lambda row: row[0], reverse=True)
    return rows[:size]


def recent_gold_record(*, label: Label) -> tuple[int, int]:
    """(passed, failed) over the annotator's last ``2 x gold_min_seen`` graded golds in the
    label's project (16 by default): the record as it stands now, so that passes banked on a
    careful start expire once the annotator stops looking at the items."""
    window = 2 * label.project.gold_min_seen
    grades = list(
        Label.objects.filter(
            expert_id=label.expert_id, project_id=label.project_id, gold_passed__isnull=False
        )
        .order_by("-created_at")
        .values_list("gold_passed", flat=True)[:window]
    )
    passed = sum(1 for grade in grades if grade)
    return passed, len(grades) - passed


def gold_record_good(*, label: Label, level: int | None = None) -> bool:
    """Whether the annotator may be graded right on a consensus their own vote carried: their
    recent gold record in the label's project (:func:`recent_gold_record`) is good (at least
    ``gold_min_seen`` graded golds with a posterior mean, Beta(1, 1), of at least
    ``gold_threshold``: the record that lets an annotator vouch for a consensus,
    annotate/quality/silver.py), or they are senior (verified level at least the project's
    ``senior_level``; ``level`` is read when not given) and that record is not bad: the same
    posterior mean over the golds they have, at least one.

    A senior annotator answers few golds before their labels are rewarded (a tenth of 50 labels
    is 5, under the 8 a good record needs), and an expert right against a wrong majority is the
    vote that carries the item; their level is a verified credential, which a weak or
    item-ignoring account cannot earn by answering the first golds carefully. The record is a
    window, not the lifetime counts: an account careful on its first golds and spamming after
    them kept a good lifetime record for 20 spam golds and more, and was graded right on every
    split its spam broke."""
    passed, failed = recent_gold_record(label=label)
    project = label.project
    if gold_record_is_good(passed=passed, failed=failed, project=project):
        return True
    if passed == 0 or (passed + 1) / (passed + failed + 2) < project.gold_threshold:
        return False
    if level is None:
        level = expertise_level(expert=label.expert, domain=project.domain, today=label.created_at.date())
    return is_senior(project=project, level=level)


def other_answers(*, item_ids: list[Any], expert_id: Any) -> dict[Any, Counter]:
    """The answers of the other counted labels of each item: item id -> Counter of choices."""
    out: dict[Any, Counter] = {}
    rows = (
        Label.objects.filter(item_id__in=item_ids, is_gold=False, excluded_from_consensus=False)
        .exclude(expert_id=expert_id)
        .exclude(choice="")
        .values_list("item_id", "choice")
    )
    for item_id, choice in rows:
        out.setdefault(item_id, Counter())[choice] += 1
    return out


def breaks_a_tie(choice: str, others: Counter | None) -> bool:
    """Whether ``choice`` sides with one of two or more answers that tie at the top among the
    item's other labels (for three labels: the other two disagree and this one sided with
    one)."""
    if not others:
        return False
    top = others.most_common()
    return len(top) >= 2 and top[0][1] == top[1][1] and others[choice] == top[0][1]


def agrees_on_its_own(
    *, choice: str, reference: str, loo: str, trusted: bool, tie: bool = False
) -> bool | None:
    """Whether a label agrees with its item's consensus without having carried it: an annotator
    without a good gold record is not graded right on a consensus that the item's other labels
    alone would not have reached (``loo``, the consensus without the label; empty when not
    computed). Otherwise a weak or item-ignoring account whose vote breaks a split of two is
    graded right on the answer it chose itself (chance is 25%; such accounts were graded right
    about 34% of the time). An annotator with a good record, an expert right against a wrong
    majority among them, is graded against the consensus its vote weighs in.

    For an annotator without such a record an agreement that broke a tie among the item's other
    labels (``tie``, passed by the right window, :func:`known_rows`, which leaves the label out;
    the label's own grade, :func:`label_right`, does not pass it) is not known (None): the
    consensus without it is the tie, decided by the other voters' weights, and the item stopped
    only because this vote sided with the side that wins it (siding with the other side sends
    the item to more annotators, who often side with it). Such votes were graded right 82% to
    93% of the time whoever cast them, item-ignoring accounts included."""
    if choice != reference:
        return False
    if trusted:
        return True
    if tie:
        return None
    return not loo or loo == reference


def label_right(*, label: Label, consensus: ItemConsensus | None, trusted: bool | None = None) -> bool | None:
    """Whether the label is right where the answer is known (its gold grade, else the item's
    consensus, not counting an agreement the label carried itself for an annotator without a
    good gold record: :func:`agrees_on_its_own`), None when it is not known."""
    if label.gold_passed is not None:
        return bool(label.gold_passed)
    if consensus is None or not consensus.choice or not label.choice:
        return None
    return agrees_on_its_own(
        choice=label.choice,
        reference=consensus.choice,
        loo=label.loo_choice,
        trusted=gold_record_good(label=label) if trusted is None else trusted,
    )


def young_labels(policy: RewardPolicy) -> int:
    """How many of an annotator's first labels in a project are held in full."""
    return max(1, int(getattr(settings, "REWARDS_HOLD_IN_FULL_WINDOWS", 2))) * policy.score_window


def young_record_end(*, label: Label, policy: RewardPolicy) -> Any | None:
    """When the annotator's young record in the label's project ends: the creation time of
    their :func:`young_labels`-th label there (the first label past it), None while they have
    fewer."""
    limit = young_labels(policy)
    rows = (
        Label.objects.filter(project_id=label.project_id, expert_id=label.expert_id)
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)[limit - 1 : limit]
    )
    return next(iter(rows), None)


def held_in_full(*, label: Label, policy: RewardPolicy, window_since: list[Any]) -> str | None:
    """Why the whole reward of ``label`` is held, or None. Its rate rests on an immature record:

    - ``young``: the label is among the annotator's first :func:`young_labels` in the project
      (short windows);
    - ``windows``: a window the rate was computed on (``window_since``: the creation time of the
      oldest label in each) still holds labels of that young record. Windows of known answers
      lag the labels by the time items take to become final, so a rate paid at once on the first
      labels after the young record was still the rate of its start: an account careful for its
      first golds and item-ignoring after them was paid 80% of its careful rate at once on them.

    The reward then settles at the rate the record supports at settlement (rewards.topups)."""
    end = young_record_end(label=label, policy=policy)
    if end is None or label.created_at < end:
        return "young"
    if any(since is not None and since < end for since in window_since):
        return "windows"
    return None


def right_rate(
    *, window: list[tuple[str, bool]], reference: dict[str, Fraction], prior: int, z: Fraction = Fraction(0)
) -> dict[str, Any]:
    """G, the chance-corrected accuracy of a window, and R for a right label (see the module).
    G is 0 unless the hits exceed chance by ``z`` standard deviations of an item-ignoring
    answer's hits (binomial, ``n b (1 - b)``): :func:`shows_information`."""
    n = len(window)
    hits = sum(1 for _c, right in window if right)
    if n == 0 or hits == 0:
        return {"n": n, "hits": hits, "chance": None, "g": "0", "per_right": "0", "shown": False}
    mine = Counter(choice for choice, _r in window)
    chance = sum(Fraction(count, n) * reference.get(choice, Fraction(0)) for choice, count in mine.items())
    excess = hits - n * chance
    shown = shows_information(excess=excess, n=n, variance=chance * (1 - chance), z=z)
    g = excess / (n + prior) if shown else Fraction(0)
    return {
        "n": n,
        "hits": hits,
        "chance": str(chance),
        "g": str(g),
        "per_right": str(g * n / hits),
        "shown": shown,
    }


# --- The formula --------------------------------------------------------------------------------


def information_compute(
    *, label: Label, policy: RewardPolicy, consensus: ItemConsensus | None, stats: ProjectStats
) -> dict[str, Any]:
    """Every input of the label's reward, its terms and the amount held back."""
    until = stats.until
    level = expertise_level(expert=label.expert, domain=label.project.domain, today=label.created_at.date())
    multiplier_bp = int(policy.level_multipliers_bp.get(str(level), 0))
    base = int(policy.base_rate)

    peer = peer_score(label=label, stats=stats, until=until)
    scores, peer_since = peer_window(
        expert_id=label.expert_id,
        project_id=label.project_id,
        limit=policy.score_window - 1,
        exclude_label_id=label.pk,
    )
    if peer["score"] is not None:
        scores = [Fraction(peer["score"]), *scores]
    z = evidence_z(policy)
    trusted = gold_record_good(label=label, level=level)  # read once for the label and its window
    right = label_right(label=label, consensus=consensus, trusted=trusted)
    rows = known_rows(label=label, policy=policy, until=until, trusted=trusted)
    window = [(choice, is_right) for _at, choice, is_right in rows]
    rate = right_rate(window=window, reference=stats.reference, prior=policy.score_prior, z=z)
    p = peer_average(scores, policy.score_prior, peer_gate(z, rate))
    r = min(Fraction(rate["per_right"]), Fraction(1)) if right else Fraction(0)

    peer_amount = int(base * multiplier_bp * policy.peer_weight_bp * p // (BP * BP))
    right_amount = int(base * multiplier_bp * policy.right_weight_bp * r // (BP * BP))
    amount = peer_amount + right_amount
    why_in_full = held_in_full(
        label=label, policy=policy, window_since=[peer_since, rows[-1][0] if rows else None]
    )
    young = why_in_full is not None
    held = amount if young else amount * policy.holdback_bp // BP
    right_per_label = int(
        base
        * multiplier_bp
        * policy.right_weight_bp
        * min(Fraction(rate["per_right"]), Fraction(1))
        // (BP * BP)
    )
    return {
        "kind": RewardPolicy.Kind.INFORMATION,
        "amount": amount,
        "paid": amount - held,
        "held": held,
        "formula": FORMULA,
        "policy_id": policy.pk,
        "policy_version": policy.version,
        "base_rate": str(base),
        "level": level,
        "multiplier_bp": multiplier_bp,
        "peer": {**peer, "window": len(scores), "p": str(p), "weight_bp": policy.peer_weight_bp},
        "evidence_z": str(z),
        "peer_amount": peer_amount,
        "right": right,
        "right_window": {**rate, "weight_bp": policy.right_weight_bp},
        "right_amount": right_amount,
        "right_amount_if_right": right_per_label,
        "reference": "gold"
        if label.gold_passed is not None
        else ("consensus" if right is not None else None),
        "delta_sign": stats.sign,
        "holdback_bp": BP if young else policy.holdback_bp,
        "held_in_full": young,
        "held_in_full_why": why_in_full,
        "settle_seconds": policy.settle_seconds,
        "label_choice": label.choice,
        "consensus": None
        if consensus is None
        else {"method": consensus.method, "choice": consensus.choice, "confidence": consensus.confidence},
        "revisions_seen": len((consensus.revisions if consensus is not None else None) or []),
    }


# --- What a policy costs ------------------------------------------------------------------------


def policy_expected_cost(policy: RewardPolicy, *, sample: int = 1000) -> dict[str, Any]:
    """The expected cost of one label under ``policy`` (either kind): the mean of the rewards
    posted under it (held shares included, the last ``sample``), or its maximum before any."""
    from rewards.policy import policy_max_reward

    amounts = list(
        LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REWARD, data__policy_id=policy.pk)
        .order_by("-id")
        .values_list("amount", flat=True)[:sample]
    )
    if not amounts:
        return {"expected_cost_per_label": policy_max_reward(policy), "basis": "maximum: no label paid yet"}
    return {
        "expected_cost_per_label": sum(int(a) for a in amounts) // len(amounts),
        "basis": f"mean of the last {len(amounts)} rewards under this version",
    }
