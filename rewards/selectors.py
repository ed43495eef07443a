"""Reads of rewards: budgets, spend, statements, and the queue's budget gate."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from annotate.gates import gate_shared_reads
from annotate.models import Assignment, Item, Label, Project, ProjectSuspension, Slot
from rewards.ledger import sum_amounts, sums_by
from rewards.models import BudgetCredit, LedgerAccount, LedgerEntry, LedgerTransaction, RewardPolicy
from rewards.policy import policy_in_force, policy_max_reward
from rewards.policy_information import policy_expected_cost
from rlhf_platform.accounts.models import Lab
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile

BUDGET_EXHAUSTED = "budget_exhausted"


# --- Budgets ---------------------------------------------------------------------------------


def lab_budget_balance(*, lab_id: Any) -> int:
    """What is left in the lab's budget (the account's balance copy: one indexed row)."""
    balance = (
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.LAB_BUDGET, lab_id=lab_id)
        .values_list("balance", flat=True)
        .first()
    )
    return int(balance or 0)


def lab_commitments(*, lab_id: Any) -> int:
    """The most the lab may still owe for work handed out but not yet paid, at the maximum
    reward of each project's policy in force now:

    - every ordinary assignment leased or submitted on an item not yet final;
    - every slot of such an item given back by an expired lease and not leased since: its
      expert may still submit (a late submit is accepted while the slot is free), once per slot;
    - every label of a final item whose reward is not yet posted (the rewards task is queued):
      ordinary, not excluded from consensus (unless by a suspension reinstated on appeal, which
      is paid), on an item finalised under a policy (at or after the project's first one).

    A label moves from the first kind to the second when its item is finalised, and out when
    its reward is posted, which moves the budget's balance in the same transaction: at every
    instant, balance less commitments is what the lab can still pay for."""
    leased = Assignment.objects.filter(
        project__lab_id=lab_id,
        is_gold=False,
        status__in=[Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED],
    ).exclude(item__state=Item.State.FINAL)
    late = Assignment.objects.filter(
        project__lab_id=lab_id, is_gold=False, status=Assignment.Status.EXPIRED, slot__state=Slot.State.OPEN
    ).exclude(item__state=Item.State.FINAL)
    first_policy = RewardPolicy.objects.filter(project_id=OuterRef("project_id")).order_by("effective_from")
    rewarded = LedgerTransaction.objects.filter(label_id=OuterRef("pk"), kind=LedgerTransaction.Kind.REWARD)
    unpaid = (
        Label.objects.filter(project__lab_id=lab_id, is_gold=False, item__state=Item.State.FINAL)
        .filter(Q(excluded_from_consensus=False) | Q(excluded_by__appeal=ProjectSuspension.Appeal.REINSTATED))
        .filter(item__finalized_at__gte=Subquery(first_policy.values("effective_from")[:1]))
        .filter(~Exists(rewarded))
    )
    counts: dict[Any, int] = {}
    for rows, counted in (
        (leased, Count("pk")),
        (late, Count("slot_id", distinct=True)),
        (unpaid, Count("pk")),
    ):
        for project_id, n in (
            rows.order_by().values("project_id").annotate(n=counted).values_list("project_id", "n")
        ):
            counts[project_id] = counts.get(project_id, 0) + n
    total = 0
    for project_id, n in counts.items():
        policy = policy_in_force(project_id=project_id)
        if policy is not None:
            total += n * policy_max_reward(policy)
    return total


def _commitments_cache_key(lab_id: Any) -> str:
    # v2: (committed, counted at). The earlier key held a bare count; processes of both versions
    # share the cache during a rolling deploy, and neither must read the other's value.
    return f"rewards:commitments:v2:{lab_id}"


def _commitments_seconds() -> float:
    return float(getattr(settings, "REWARDS_COMMITMENTS_CACHE_SECONDS", 5))


def commitments_cached(*, lab_id: Any) -> tuple[int, float] | None:
    """The lab's cached commitments and their age in seconds, or None once
    ``REWARDS_COMMITMENTS_CACHE_SECONDS`` have passed since they were counted."""
    entry = cache.get(_commitments_cache_key(lab_id))
    if entry is None:
        return None
    committed, counted_at = entry
    return int(committed), max(0.0, time.time() - counted_at)


def commitments_cache(*, lab_id: Any, committed: int) -> None:
    cache.set(_commitments_cache_key(lab_id), (committed, time.time()), _commitments_seconds())


def commitments_recount_due(*, lab_id: Any, age: float) -> bool:
    """True for one caller once the cached commitments are past half their time: that caller
    counts again while the others keep the cached value, still within its time. Without it
    every expert whose eligibility was reloaded as the value expired counted at once."""
    seconds = _commitments_seconds()
    # Whole seconds, at least one: the Redis cache drops a key stored for 0 at once.
    flag = max(1, math.ceil(seconds / 2))
    return age >= seconds / 2 and cache.add(_commitments_cache_key(lab_id) + ":recount", 1, flag)


# What budget_zone finds: a project that pays nothing; headroom of at least
# REWARDS_GATE_EXACT_MARGIN_LABELS maximum rewards after the cached commitments (the gate's
# read suffices); less than that (every lease decides under the budget's lock); not even one
# label's maximum reward left.
UNPAID, FAR, EXACT, EXHAUSTED = "unpaid", "far", "exact", "exhausted"


def budget_zone(*, project: Project, count: bool = True) -> tuple[str, int]:
    """:func:`budget_zone_read`, read once per eligibility decision: within
    :func:`annotate.gates.gate_reads_shared` the budget gate's zone (counted) serves its lease
    guard too, which would otherwise read the policy and the balance again a moment later."""
    shared = gate_shared_reads()
    key = ("budget_zone", project.pk)
    if shared is not None and key in shared:
        return shared[key]
    zone = budget_zone_read(project=project, count=count)
    if shared is not None and (count or zone[0] != EXACT):  # an uncounted "exact" is not a verdict
        shared[key] = zone
    return zone


def budget_zone_read(*, project: Project, count: bool = True) -> tuple[str, int]:
    """Where the project's lab stands against its budget, and the next label's maximum reward.

    Cheap on every ``queue/next``: the policy in force (one indexed row), the budget's balance
    (one indexed row), and the commitments from the cache (``REWARDS_COMMITMENTS_CACHE_SECONDS``).
    Only when the headroom left after the cached commitments is under
    ``REWARDS_GATE_EXACT_MARGIN_LABELS`` maximum rewards are the commitments counted exactly,
    so precision is spent where the budget runs out. With ``count=False`` a project that is not
    clearly far from the end is ``exact`` without counting (the caller counts under lock)."""
    policy = policy_in_force(project_id=project.pk)
    next_max = policy_max_reward(policy) if policy is not None else 0
    if next_max == 0:
        return UNPAID, 0
    balance = lab_budget_balance(lab_id=project.lab_id)
    if balance < next_max:
        return EXHAUSTED, next_max
    cached = commitments_cached(lab_id=project.lab_id)
    margin = next_max * int(getattr(settings, "REWARDS_GATE_EXACT_MARGIN_LABELS", 1000))
    if cached is not None and balance - cached[0] - next_max >= margin:
        if not count or not commitments_recount_due(lab_id=project.lab_id, age=cached[1]):
            return FAR, next_max
    elif not count:
        return EXACT, next_max
    committed = lab_commitments(lab_id=project.lab_id)
    commitments_cache(lab_id=project.lab_id, committed=committed)
    headroom = balance - committed
    if headroom < next_max:
        return EXHAUSTED, next_max
    return (FAR if headroom - next_max >= margin else EXACT), next_max


def budget_gate(expert: ExpertProfile | None, project: Project) -> str | None:
    """The queue's ``budget_exhausted`` gate: refuse when the lab's budget, less what it may
    still owe for work handed out (:func:`lab_commitments`), cannot pay the next label's
    maximum reward. A project without a policy pays nothing and is never gated. Near the end
    of the budget this read is not the last word: :func:`budget_lease_guard` decides again
    under the budget's lock, at the lease."""
    zone, _next_max = budget_zone(project=project)
    return BUDGET_EXHAUSTED if zone == EXHAUSTED else None


def budget_lease_guard(
    expert: ExpertProfile | None, project: Project
) -> AbstractContextManager[str | None] | None:
    """The queue's lease guard for the budget: none while the headroom is wide; near its end,
    the lease is decided and written under the lab budget account's row lock."""
    zone, next_max = budget_zone(project=project, count=False)
    if zone in (UNPAID, FAR):
        return None
    return _budget_locked(lab_id=project.lab_id, next_max=next_max)


@contextmanager
def _budget_locked(*, lab_id: Any, next_max: int) -> Iterator[str | None]:
    """Yields ``budget_exhausted`` or None (lease now) inside one transaction that holds the
    lab budget account's row. Every lease near the end of the budget, and every posting that
    moves the budget (rewards, credits, clawbacks: rewards.ledger locks the accounts it moves),
    waits for it: each lease counts the commitments with every earlier lease and posting
    committed, so simultaneous experts cannot all take the last label."""
    with transaction.atomic():
        balance = (
            LedgerAccount.objects.select_for_update()
            .filter(kind=LedgerAccount.Kind.LAB_BUDGET, lab_id=lab_id)
            .values_list("balance", flat=True)
            .first()
        )
        committed = lab_commitments(lab_id=lab_id)
        commitments_cache(lab_id=lab_id, committed=committed)
        yield BUDGET_EXHAUSTED if int(balance or 0) - committed < next_max else None


def lab_spend(*, lab: Lab) -> dict[str, Any]:
    """A lab's budget and what each of its projects has spent (rewards less clawbacks, plus
    clawbacks reversed on appeal)."""
    spent = sums_by(
        LedgerTransaction.objects.filter(lab=lab, kind=LedgerTransaction.Kind.REWARD), "project_id"
    )
    returned = sums_by(
        LedgerTransaction.objects.filter(lab=lab, kind=LedgerTransaction.Kind.CLAWBACK), "project_id"
    )
    repaid = sums_by(
        LedgerTransaction.objects.filter(lab=lab, kind=LedgerTransaction.Kind.CLAWBACK_REVERSAL), "project_id"
    )
    forfeited = sums_by(
        LedgerTransaction.objects.filter(lab=lab, kind=LedgerTransaction.Kind.HOLDBACK_FORFEIT), "project_id"
    )
    adjusted: dict[Any, int] = {}
    for project_id, data in LedgerTransaction.objects.filter(
        lab=lab, kind=LedgerTransaction.Kind.REWARD_ADJUSTMENT
    ).values_list("project_id", "data"):
        adjusted[project_id] = adjusted.get(project_id, 0) + int((data or {}).get("adjustment") or 0)
    credited = sum_amounts(
        LedgerTransaction.objects.filter(lab=lab, kind=LedgerTransaction.Kind.BUDGET_CREDIT)
    )
    projects = []
    for project in Project.objects.filter(lab=lab).order_by("created_at"):
        policy = policy_in_force(project_id=project.pk)
        projects.append(
            {
                "project": str(project.pk),
                "name": project.name,
                "spent": str(
                    spent.get(project.pk, 0)
                    - returned.get(project.pk, 0)
                    + repaid.get(project.pk, 0)
                    - forfeited.get(project.pk, 0)
                    + adjusted.get(project.pk, 0)
                ),
                "rewarded_labels": LedgerTransaction.objects.filter(
                    project=project, kind=LedgerTransaction.Kind.REWARD
                ).count(),
                "policy_version": policy.version if policy else None,
                "max_reward_per_label": str(policy_max_reward(policy)) if policy else None,
                "policy_kind": policy.kind if policy else None,
                "expected_cost_per_label": str(policy_expected_cost(policy)["expected_cost_per_label"])
                if policy
                else None,
            }
        )
    return {
        "lab": str(lab.pk),
        "credited": str(credited),
        "remaining": str(lab_budget_balance(lab_id=lab.pk)),
        "committed": str(lab_commitments(lab_id=lab.pk)),
        "projects": projects,
    }


def lab_budgets() -> list[dict[str, Any]]:
    """Every lab with its remaining budget (staff)."""
    balances = dict(
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.LAB_BUDGET).values_list("lab_id", "balance")
    )
    return [
        {
            "lab": str(lab.pk),
            "name": lab.name,
            "slug": lab.slug,
            "remaining": str(int(balances.get(lab.pk, 0))),
        }
        for lab in Lab.objects.order_by("name")
    ]


# --- Policies --------------------------------------------------------------------------------


def reward_policies_by_id(*, ids: Iterable[Any]) -> list[RewardPolicy]:
    """The policy versions with these ids (those a statement's lines were computed under)."""
    return list(
        RewardPolicy.objects.filter(pk__in=[pk for pk in ids if pk is not None])
        .select_related("project")
        .order_by("project__name", "version")
    )


def reward_policies_of_project(*, project: Project) -> QuerySet[RewardPolicy]:
    return RewardPolicy.objects.filter(project=project).order_by("-version")


def access_project_for_staff(*, project_id: Any) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise ApplicationError("Project not found.", code="not_found", status_code=404)
    return project


def access_lab_for_staff(*, lab_id: Any) -> Lab:
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        raise ApplicationError("Lab not found.", code="not_found", status_code=404)
    return lab


def budget_credits(*, status: str | None = None) -> QuerySet[BudgetCredit]:
    """Budget credits, newest first, with the people who asked and decided."""
    rows = BudgetCredit.objects.select_related(
        "lab", "requested_by", "approved_by", "decided_by", "transaction"
    ).order_by("-requested_at")
    return rows.filter(status=status) if status else rows


def access_budget_credit(*, credit_id: Any) -> BudgetCredit:
    credit = BudgetCredit.objects.select_related("lab").filter(pk=credit_id).first()
    if credit is None:
        raise ApplicationError("Budget credit not found.", code="not_found", status_code=404)
    return credit


# --- Statements ------------------------------------------------------------------------------


def expert_statement(*, expert: ExpertProfile) -> QuerySet[LedgerTransaction]:
    """The expert's ledger lines, newest first: rewards (with their formula), clawbacks (and
    their reversal on appeal), payouts."""
    return (
        LedgerTransaction.objects.filter(expert=expert)
        .select_related("project", "label__item")
        .order_by("-created_at", "-id")
    )


def ledger_check() -> dict[str, int]:
    """Consistency figures: the sum of every entry (0), and how many account balance copies
    differ from the sum of their entries (0)."""
    total = sum_amounts(LedgerEntry.objects.all())
    sums = sums_by(LedgerEntry.objects.all(), "account_id")
    drift = sum(
        1
        for account_id, balance in LedgerAccount.objects.values_list("pk", "balance")
        if int(balance) != sums.get(account_id, 0)
    )
    return {"entries_total": total, "accounts_out_of_step": drift}


def items_missing_rewards(*, now: Any = None, limit: int = 500) -> list[Any]:
    """Final items whose rewards should exist and do not: an ordinary, counted label of an
    annotator in no suspected or confirmed group, on a non-gold item of a project with a policy
    in force when the item became final, without its ``reward:<label>`` transaction. Finalised
    between ``REWARDS_MISSING_HORIZON_SECONDS`` and ``REWARDS_MISSING_GRACE_SECONDS`` ago: the
    item's own reward task has had its time, and the sweep stays bounded. Posting is idempotent
    (one reference per label), so queueing an item twice costs two reads."""
    import datetime as dt

    from django.utils import timezone

    from annotate.models_groups import AnnotatorGroup, AnnotatorGroupMember

    now = now or timezone.now()
    grace = dt.timedelta(seconds=getattr(settings, "REWARDS_MISSING_GRACE_SECONDS", 120))
    horizon = dt.timedelta(seconds=getattr(settings, "REWARDS_MISSING_HORIZON_SECONDS", 7 * 86400))
    rewarded = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REWARD, label_id=OuterRef("pk"))
    grouped = AnnotatorGroupMember.objects.filter(
        project_id=OuterRef("project_id"),
        expert_id=OuterRef("expert_id"),
        group__status__in=[AnnotatorGroup.Status.SUSPECTED, AnnotatorGroup.Status.CONFIRMED],
    )
    paying = RewardPolicy.objects.filter(
        project_id=OuterRef("project_id"), effective_from__lte=OuterRef("item__finalized_at")
    )
    missing = (
        Label.objects.filter(
            item__state=Item.State.FINAL,
            item__is_gold=False,
            is_gold=False,
            excluded_from_consensus=False,
            item__finalized_at__lt=now - grace,
            item__finalized_at__gte=now - horizon,
        )
        .filter(Exists(paying))
        .exclude(Exists(rewarded))
        .exclude(Exists(grouped))
    )
    return list(missing.order_by().values_list("item_id", flat=True).distinct()[:limit])
