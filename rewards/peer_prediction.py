"""The peer-prediction term of a policy of kind ``information`` (Correlated Agreement,
Shnayder, Agarwal, Frongillo and Parkes, 2016), the project-wide estimates it needs, the groups
whose members are never each other's peers, and the evidence gate both terms pass through.

For the label ``x_a(i)`` of annotator a on item i, each peer b with a counted label on i (never a,
never a member of a's suspected group) gives the score

    s = S(x_a(i), x_b(i)) - S(x_a(j), x_b(k))

with j an item a labelled other than i and k an item b labelled other than i and j, both drawn by
a generator seeded with the label's id (a recompute draws the same), among labels created before
the item was finalised. ``S(x, y) = 1`` when ``Delta(x, y) > 0``, where Delta is the joint
distribution of two annotators' answers on one item minus the product of the marginals,
estimated from the project's recent pairs of labels (identity before there are enough). The
label's score is the mean over its peers; P is the mean of the annotator's last ``score_window``
scores in the project, with ``score_prior`` pseudo-scores of 0 added, clipped at 0. See
docs/rewards.md.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from django.apps import apps
from django.conf import settings

from annotate.models import Item, ItemConsensus, Label
from rewards.models import LedgerTransaction, RewardPolicy

DELTA_MIN_PAIRS = 50
OTHER_DRAWS = 3  # (j, k) pairs drawn per peer; their mean is the second term

# --- The mechanism, on plain data ----------------------------------------------------------------


def delta_sign_estimate(choices_by_item: Iterable[list[str]]) -> dict[str, Any]:
    """The answer pairs (x, y) where Delta(x, y) = P(x, y) - P(x) P(y) > 0, estimated from the
    ordered pairs of two annotators' answers on one item; none before ``DELTA_MIN_PAIRS``."""
    joint: Counter = Counter()
    for choices in choices_by_item:
        for n, x in enumerate(choices):
            for m, y in enumerate(choices):
                if n != m:
                    joint[(x, y)] += 1
    total = sum(joint.values())
    if total < DELTA_MIN_PAIRS:
        return {"estimated": [], "pairs": total}
    marginal: Counter = Counter()
    for (x, _y), count in joint.items():
        marginal[x] += count
    classes = sorted(marginal)
    positive = [
        f"{x}|{y}"
        for x in classes
        for y in classes
        if joint[(x, y)] * total > marginal[x] * marginal[y]  # Delta(x, y) > 0, exactly
    ]
    return {"estimated": positive, "pairs": total}


def sign_score(sign: dict[str, Any], x: str, y: str) -> int:
    """S(x, y) = 1 when Delta(x, y) > 0 (agreement on the same answer before an estimate)."""
    if not sign["estimated"]:
        return int(x == y)
    return int(f"{x}|{y}" in sign["estimated"])


def ca_score(
    *,
    item_id: Any,
    choice: str,
    peers: list[tuple[Any, str, list[tuple[Any, str]]]],
    mine: list[tuple[Any, str]],
    sign: dict[str, Any],
    rng: random.Random,
) -> tuple[Fraction | None, list[list[Any]]]:
    """The Correlated Agreement score of answer ``choice`` on ``item_id``: for each peer
    ``(key, answer on the item, [(item, answer) of their other labels])``, S(mine, theirs) minus
    the mean of S over ``OTHER_DRAWS`` draws of my answer on another item j and theirs on a third
    item k; the mean over peers. ``mine`` is my other labels. None when no draw is possible."""
    mine = [row for row in mine if row[0] != item_id]
    if not mine:
        return None, []
    scores, draws = [], []
    for key, peer_choice, theirs in peers:
        same = sign_score(sign, choice, peer_choice)
        others = []
        for _ in range(OTHER_DRAWS):
            j, x_j = rng.choice(mine)
            pool = [row for row in theirs if row[0] not in (item_id, j)]
            if not pool:
                continue
            k, y_k = rng.choice(pool)
            others.append(sign_score(sign, x_j, y_k))
            draws.append([str(key), j, k])
        if others:
            scores.append(Fraction(same) - Fraction(sum(others), len(others)))
    if not scores:
        return None, draws
    return sum(scores) / len(scores), draws


# --- Project-wide estimates (one read per item posted) ------------------------------------------


class ProjectStats:
    """The sign of the Delta matrix and the distribution of known answers of one project, read
    once per posting of an item's rewards."""

    def __init__(self, *, project_id: Any, until: Any) -> None:
        self.project_id = project_id
        self.until = until
        self.sign = self._delta_sign()
        self.reference = self._reference_distribution()

    def _delta_sign(self) -> dict[str, list[str]]:
        rows = (
            Label.objects.filter(
                project_id=self.project_id,
                is_gold=False,
                excluded_from_consensus=False,
                created_at__lte=self.until,
            )
            .exclude(choice="")
            .order_by("-created_at")
            .values_list("item_id", "choice")[: settings.REWARDS_PEER_DELTA_LABELS]
        )
        by_item: dict[Any, list[str]] = defaultdict(list)
        for item_id, choice in rows:
            by_item[item_id].append(choice)
        return delta_sign_estimate(by_item.values())

    def s(self, x: str, y: str) -> int:
        return sign_score(self.sign, x, y)

    def _reference_distribution(self) -> dict[str, Fraction]:
        counts: Counter = Counter(
            ItemConsensus.objects.filter(
                item__project_id=self.project_id, item__state=Item.State.FINAL, item__is_gold=False
            )
            .exclude(choice="")
            .values_list("choice", flat=True)
        )
        for answer in Item.objects.filter(project_id=self.project_id, gold__isnull=False).values_list(
            "gold", flat=True
        ):
            if isinstance(answer, dict) and answer.get("choice"):
                counts[answer["choice"]] += 1
        total = sum(counts.values())
        return {c: Fraction(n, total) for c, n in counts.items()} if total else {}


# --- Groups -------------------------------------------------------------------------------------


def suspected_group_members(*, project_id: Any, expert_id: Any) -> set[str]:
    """The experts (as text) in any group the project suspects ``expert_id`` belongs to: the
    fitted model's groups, and persisted undecided or confirmed groups where they exist."""
    from annotate.quality.consensus_update import project_model

    members: set[str] = set()
    model = project_model(project_id)
    if model is not None:
        g = model.group_of(str(expert_id))
        if g is not None:
            members.update(str(w) for w in (model.meta.get("groups") or [])[g])
    try:
        member_model = apps.get_model("annotate", "AnnotatorGroupMember")
    except LookupError:
        return members
    groups = member_model.objects.filter(project_id=project_id, expert_id=expert_id).exclude(
        group__status__in=("cleared", "merged")
    )
    for expert in member_model.objects.filter(group__in=groups.values("group_id")).values_list(
        "expert_id", flat=True
    ):
        members.add(str(expert))
    return members


# --- The peer term ------------------------------------------------------------------------------


def _other_labels(*, expert_id: Any, project_id: Any, until: Any, limit: int = 200) -> list[tuple[Any, str]]:
    """(item id, choice) of the expert's recent ordinary labels, oldest first: labels a
    suspension excluded from consensus included (their record, as in the right term's window)."""
    rows = (
        Label.objects.filter(
            expert_id=expert_id,
            project_id=project_id,
            is_gold=False,
            created_at__lte=until,
        )
        .exclude(choice="")
        .order_by("-created_at", "id")
        .values_list("item_id", "choice")[:limit]
    )
    return sorted(rows, key=lambda row: row[0])


def peer_score(*, label: Label, stats: ProjectStats, until: Any) -> dict[str, Any]:
    """The label's Correlated Agreement score (see the module's docstring) with its draws."""
    group = suspected_group_members(project_id=label.project_id, expert_id=label.expert_id)
    peers = (
        Label.objects.filter(
            item_id=label.item_id, is_gold=False, excluded_from_consensus=False, created_at__lte=until
        )
        .exclude(expert_id=label.expert_id)
        .exclude(choice="")
        .order_by("id")
        .values_list("id", "expert_id", "choice")
    )
    peers = [p for p in peers if str(p[1]) not in group]
    if not label.choice or not peers:
        return {"score": None, "reason": "no peer outside the annotator's group"}
    rng = random.Random(f"ca:{label.pk}")  # noqa: S311 (seeded: a recompute draws the same)
    mine = _other_labels(expert_id=label.expert_id, project_id=label.project_id, until=until)
    score, draws = ca_score(
        item_id=label.item_id,
        choice=label.choice,
        peers=[
            (expert, choice, _other_labels(expert_id=expert, project_id=label.project_id, until=until))
            for _id, expert, choice in peers
        ],
        mine=mine,
        sign=stats.sign,
        rng=rng,
    )
    if score is None:
        return {"score": None, "reason": "no other labels to compare with yet"}
    return {"score": str(score), "peers": len(peers), "draws": draws}


def peer_scores(
    *, expert_id: Any, project_id: Any, limit: int, exclude_label_id: Any = None
) -> list[Fraction]:
    """The peer scores of the annotator's last ``limit`` rewards of this kind in the project
    (without the reward of ``exclude_label_id``), newest first."""
    return peer_window(
        expert_id=expert_id, project_id=project_id, limit=limit, exclude_label_id=exclude_label_id
    )[0]


def peer_window(
    *, expert_id: Any, project_id: Any, limit: int, exclude_label_id: Any = None
) -> tuple[list[Fraction], Any]:
    """:func:`peer_scores`, and the creation time of the oldest label among those rewards (None
    without any)."""
    rows = LedgerTransaction.objects.filter(
        expert_id=expert_id,
        project_id=project_id,
        kind=LedgerTransaction.Kind.REWARD,
        data__kind=RewardPolicy.Kind.INFORMATION,
    )
    if exclude_label_id is not None:
        rows = rows.exclude(label_id=exclude_label_id)
    out, oldest = [], None
    window = rows.order_by("-created_at", "-id").values_list("data", "label__created_at")[: max(limit, 0)]
    for data, created_at in window:
        score = ((data or {}).get("peer") or {}).get("score")
        if score is not None:
            out.append(Fraction(score))
        if created_at is not None and (oldest is None or created_at < oldest):
            oldest = created_at
    return out, oldest


def evidence_z(policy: RewardPolicy) -> Fraction:
    """The z a window's evidence of information must reach to be paid (0: the unconditional
    clipping of the policy versions before the gate)."""
    return Fraction(int(getattr(policy, "evidence_z_hundredths", 0) or 0), 100)


def shows_information(*, excess: Fraction, n: int, variance: Fraction | None, z: Fraction) -> bool:
    """A one-sided z test that a window of ``n`` labels is better than ignoring the items: its
    ``excess`` over what an item-ignoring answer earns in expectation (a sum) is positive and at
    least ``z`` standard deviations, ``excess >= z sqrt(n variance)``, compared in rationals
    (``excess^2 >= z^2 n variance``), so no rounding decides a payment. Without a variance (fewer
    than two scores) only ``z = 0`` passes."""
    if excess <= 0:
        return False
    if z <= 0:
        return True
    if variance is None:
        return False
    return excess * excess >= z * z * n * variance


def peer_gate(z: Fraction, rate: dict[str, Any]) -> Fraction:
    """The z the peer window must reach: none when the right window already shows information
    (the record is not item-ignoring: an expert whose peers are mostly weak or item-ignoring
    accounts has weak peer scores), else ``z``."""
    return Fraction(0) if rate.get("shown") and Fraction(rate.get("g") or 0) > 0 else z


def peer_average(scores: list[Fraction], prior: int, z: Fraction = Fraction(0)) -> Fraction:
    """P: the window's scores with ``prior`` pseudo-scores of 0, clipped to [0, 1], and 0 unless
    the window shows information at ``z`` (:func:`shows_information`, with the scores' sample
    variance: an item-ignoring strategy scores 0 in expectation)."""
    if not scores:
        return Fraction(0)
    total = sum(scores, Fraction(0))
    n = len(scores)
    variance = None
    if n >= 2:
        mean = total / n
        variance = sum(((s - mean) ** 2 for s in scores), Fraction(0)) / (n - 1)
    if not shows_information(excess=total, n=n, variance=variance, z=z):
        return Fraction(0)
    return min(total / (n + prior), Fraction(1))
