"""What a label earns: the policy version in force, and the formula with every input kept.

    amount = base_rate x level multiplier x agreement weight x gold factor

Multipliers and weights are integer basis points (10,000 = 1), so the arithmetic is exact
integers: ``base_rate * multiplier_bp * weight_bp // 10**8`` (rounded down), then 0 when the
gold factor fails; a label that earns anything earns at least ``min_reward``.

- Level: the expert's expertise level in the project's domain on the day of the label
  (``rlhf_platform.experts.selectors.expertise_level``).
- Agreement with the item's consensus (``ItemConsensus``), pairwise: ``full`` for the same
  choice at the same strength (or when either has no strength), ``partial`` for an adjacent
  answer (the same choice at another strength, or a tie against the weakest preference), ``none``
  when it contradicts (the other response, both_bad against a preference, a tie against a clear
  preference). Ranking: ``full`` when every pair the consensus orders is ordered the same way,
  ``partial`` when at least half are (a tie counting half), else ``none``. Without a confident
  consensus (missing, or below the policy's confidence) every label is ``unresolved`` and gets
  the partial weight: the expert is not to blame for a hard item.
- Gold factor: the expert's last ``gold_window`` graded gold labels in the project before this
  label (``Label.gold_passed``). Fewer than ``gold_min_seen`` of them: passes (not enough
  evidence to withhold pay). Otherwise it passes when passed / graded >= the minimum accuracy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label, Project
from rewards.models import RewardPolicy
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expertise_level

BP = 10_000
FORMULA = "floor(base_rate x multiplier_bp/10000 x weight_bp/10000) x gold_factor, at least min_reward if > 0"
LEVELS = ("1", "2", "3", "4")


def policy_in_force(*, project_id: Any, at: dt.datetime | None = None) -> RewardPolicy | None:
    """The latest version whose ``effective_from`` is at or before ``at`` (default: now)."""
    at = at or timezone.now()
    return (
        RewardPolicy.objects.filter(project_id=project_id, effective_from__lte=at)
        .order_by("-effective_from", "-version")
        .first()
    )


def policy_max_reward(policy: RewardPolicy) -> int:
    """The most one label can earn under ``policy`` (the budget gate reserves this)."""
    if policy.kind == RewardPolicy.Kind.INFORMATION:
        from rewards.policy_information import information_max_reward

        return information_max_reward(policy)
    best_bp = max(int(v) for v in policy.level_multipliers_bp.values())
    weight = max(policy.agreement_full_bp, policy.agreement_partial_bp, policy.agreement_none_bp)
    amount = int(policy.base_rate) * best_bp * weight // (BP * BP)
    return max(amount, int(policy.min_reward)) if amount > 0 or int(policy.min_reward) > 0 else 0


# --- Agreement -------------------------------------------------------------------------------


def _response_id(item: Item, value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(item.responses):
        return str(item.responses[value]["id"])
    return str(value)


def _positions(item: Item, ranking: list) -> dict[str, int]:
    return {_response_id(item, r): rank for rank, group in enumerate(ranking or []) for r in group}


def _ranking_class(item: Item, label_ranking: list, consensus_ranking: list) -> str:
    mine, theirs = _positions(item, label_ranking), _positions(item, consensus_ranking)
    ids = sorted(theirs)
    half_points, pairs = 0, 0
    for i, x in enumerate(ids):
        for y in ids[i + 1 :]:
            if theirs[x] == theirs[y]:
                continue
            pairs += 1
            want = theirs[x] < theirs[y]
            if x not in mine or y not in mine or mine[x] == mine[y]:
                half_points += 1
            elif (mine[x] < mine[y]) == want:
                half_points += 2
    if pairs == 0 or half_points == 2 * pairs:
        return "full"
    return "partial" if half_points >= pairs else "none"


def _pairwise_class(label: Label, consensus: ItemConsensus) -> str:
    mine, theirs = label.choice, consensus.choice
    if mine == theirs:
        if label.strength is None or consensus.strength is None:
            return "full"
        return "full" if abs(label.strength - consensus.strength) <= 0.5 else "partial"
    if {mine, theirs} in ({"tie", "A"}, {"tie", "B"}):
        strength = consensus.strength if mine == "tie" else label.strength
        # A tie next to "slightly better" is one step away on the scale: adjacent.
        return "partial" if strength is None or strength <= 1.5 else "none"
    return "none"


def agreement_class(
    *, label: Label, consensus: ItemConsensus | None, policy: RewardPolicy
) -> tuple[str, int]:
    """The label's agreement class with the item's consensus and that class's weight (bp)."""
    weights = {
        "full": policy.agreement_full_bp,
        "partial": policy.agreement_partial_bp,
        "unresolved": policy.agreement_partial_bp,
        "none": policy.agreement_none_bp,
    }
    if consensus is None or consensus.confidence * BP < policy.consensus_min_confidence_bp:
        cls = "unresolved"
    elif label.ranking is not None and consensus.ranking is not None:
        cls = _ranking_class(label.item, label.ranking, consensus.ranking)
    else:
        cls = _pairwise_class(label, consensus)
    return cls, weights[cls]


# --- Gold ------------------------------------------------------------------------------------


def _graded_golds(*, expert_id: Any, project_id: Any) -> Any:
    return Label.objects.filter(
        expert_id=expert_id, project_id=project_id, is_gold=True, gold_passed__isnull=False
    ).order_by("-created_at")


def gold_window(*, label: Label, policy: RewardPolicy) -> dict[str, Any]:
    """The expert's gold record in the project just before ``label``, and whether it passes."""
    graded = list(
        _graded_golds(expert_id=label.expert_id, project_id=label.project_id)
        .filter(created_at__lt=label.created_at)
        .values_list("gold_passed", flat=True)[: policy.gold_window]
    )
    return _gold_record(graded, policy)


def gold_windows(*, labels: list[Label], policy: RewardPolicy) -> dict[Any, dict[str, Any]]:
    """:func:`gold_window` of many labels of ``policy``'s project, by label id: two reads per
    expert (the window before their first label, the golds graded among their labels) instead
    of one per label."""
    by_expert: dict[Any, list[Label]] = {}
    for label in labels:
        by_expert.setdefault(label.expert_id, []).append(label)
    windows = {}
    for expert_id, mine in by_expert.items():
        first, last = min(lb.created_at for lb in mine), max(lb.created_at for lb in mine)
        golds = _graded_golds(expert_id=expert_id, project_id=policy.project_id)
        rows = list(
            golds.filter(created_at__gte=first, created_at__lt=last).values_list("created_at", "gold_passed")
        )
        rows += list(
            golds.filter(created_at__lt=first).values_list("created_at", "gold_passed")[: policy.gold_window]
        )
        for label in mine:
            graded = [ok for at, ok in rows if at < label.created_at][: policy.gold_window]
            windows[label.pk] = _gold_record(graded, policy)
    return windows


def _gold_record(graded: list[bool], policy: RewardPolicy) -> dict[str, Any]:
    """A gold window's figures from its graded answers, newest first."""
    seen, passed = len(graded), sum(1 for ok in graded if ok)
    if seen < policy.gold_min_seen:
        passes, accuracy_bp = True, None
    else:
        accuracy_bp = passed * BP // seen
        passes = passed * BP >= policy.gold_min_accuracy_bp * seen
    return {
        "window": policy.gold_window,
        "seen": seen,
        "passed": passed,
        "accuracy_bp": accuracy_bp,
        "min_seen": policy.gold_min_seen,
        "min_accuracy_bp": policy.gold_min_accuracy_bp,
        "passes": passes,
    }


# --- The formula -----------------------------------------------------------------------------


def reward_compute(
    *,
    label: Label,
    policy: RewardPolicy,
    consensus: ItemConsensus | None,
    level: int | None = None,
    gold: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every input of the label's reward and the amount (``amount`` is an int; the rest is
    what the expert's statement shows). ``level`` and ``gold``: the expert's level on the day
    of the label and its :func:`gold_window`, when the caller read them for many labels."""
    project: Project = label.project
    if level is None:
        level = expertise_level(expert=label.expert, domain=project.domain, today=label.created_at.date())
    multiplier_bp = int(policy.level_multipliers_bp.get(str(level), 0))
    cls, weight_bp = agreement_class(label=label, consensus=consensus, policy=policy)
    gold = gold if gold is not None else gold_window(label=label, policy=policy)
    base = int(policy.base_rate)
    raw = base * multiplier_bp * weight_bp // (BP * BP) if gold["passes"] else 0
    amount = max(raw, int(policy.min_reward)) if raw > 0 else 0
    return {
        "amount": amount,
        "formula": FORMULA,
        "policy_id": policy.pk,
        "policy_version": policy.version,
        "base_rate": str(base),
        "level": level,
        "multiplier_bp": multiplier_bp,
        "agreement": cls,
        "weight_bp": weight_bp,
        "label_choice": label.choice,
        "label_strength": label.strength,
        "consensus": None
        if consensus is None
        else {
            "method": consensus.method,
            "choice": consensus.choice,
            "strength": consensus.strength,
            "confidence": consensus.confidence,
        },
        "gold": gold,
        "gold_factor": 1 if gold["passes"] else 0,
        "min_reward": str(int(policy.min_reward)),
    }


def pending_estimate(*, expert_id: Any) -> int:
    """The most the expert's submitted labels on items not yet final can earn: each at the
    full weight with the expert's level today, under the policy in force now. An estimate;
    nothing is payable before the item is final."""
    open_labels = (
        Label.objects.filter(expert_id=expert_id, is_gold=False, excluded_from_consensus=False)
        .exclude(item__state=Item.State.FINAL)
        .values_list("project_id")
    )
    counts: dict[Any, int] = {}
    for (project_id,) in open_labels:
        counts[project_id] = counts.get(project_id, 0) + 1
    if not counts:
        return 0
    total = 0
    projects = Project.objects.select_related("domain").in_bulk(list(counts))
    expert = ExpertProfile.objects.get(pk=expert_id)
    for project_id, count in counts.items():
        policy = policy_in_force(project_id=project_id)
        if policy is None:
            continue
        level = expertise_level(expert=expert, domain=projects[project_id].domain)
        if policy.kind == RewardPolicy.Kind.INFORMATION:
            from rewards.policy_information import information_level_max

            total += information_level_max(policy, level) * count
            continue
        each = int(policy.base_rate) * int(policy.level_multipliers_bp.get(str(level), 0))
        each = each * policy.agreement_full_bp // (BP * BP)
        each = max(each, int(policy.min_reward)) if each > 0 else 0
        total += each * count
    return total
