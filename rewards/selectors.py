"""Reads of rewards: budgets, spend, statements, and the queue's budget gate."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet

from annotate.models import Assignment, Item, Project
from rewards.ledger import sum_amounts, sums_by
from rewards.models import BudgetCredit, LedgerAccount, LedgerEntry, LedgerTransaction, RewardPolicy
from rewards.policy import policy_in_force, policy_max_reward
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
    """The most the lab may still owe for work handed out but not yet rewarded: every
    ordinary assignment leased or submitted on an item not yet final, at the maximum reward of
    its project's policy in force now. (Rewards of items just finalised whose task has not yet
    run are in neither figure: the gap lasts as long as the task queue's delay.)"""
    counts = dict(
        Assignment.objects.filter(
            project__lab_id=lab_id,
            is_gold=False,
            status__in=[Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED],
        )
        .exclude(item__state=Item.State.FINAL)
        .order_by()
        .values("project_id")
        .annotate(n=Count("pk"))
        .values_list("project_id", "n")
    )
    total = 0
    for project_id, n in counts.items():
        policy = policy_in_force(project_id=project_id)
        if policy is not None:
            total += n * policy_max_reward(policy)
    return total


def _commitments_cache_key(lab_id: Any) -> str:
    return f"rewards:commitments:{lab_id}"


def budget_gate(expert: ExpertProfile, project: Project) -> str | None:
    """The queue's ``budget_exhausted`` gate: refuse when the lab's budget, less what it may
    still owe for work already handed out, cannot pay the next label's maximum reward.

    Cheap on every ``queue/next``: the policy in force (one indexed row), the budget's balance
    (one indexed row), and the commitments from the cache (``REWARDS_COMMITMENTS_CACHE_SECONDS``).
    Only when the headroom left after the cached commitments is under
    ``REWARDS_GATE_EXACT_MARGIN_LABELS`` maximum rewards are the commitments counted exactly,
    so precision is spent where the budget runs out. A project without a policy pays nothing
    and is never gated. The gate is a read before the lease, not a reservation: experts asking
    at the same instant may all pass it, so the budget can be overdrawn by at most the rewards
    of those simultaneous leases (and of finalised items whose reward task is still queued).
    """
    policy = policy_in_force(project_id=project.pk)
    if policy is None:
        return None
    next_max = policy_max_reward(policy)
    if next_max == 0:
        return None
    balance = lab_budget_balance(lab_id=project.lab_id)
    if balance < next_max:
        return BUDGET_EXHAUSTED
    key = _commitments_cache_key(project.lab_id)
    committed = cache.get(key)
    margin = next_max * getattr(settings, "REWARDS_GATE_EXACT_MARGIN_LABELS", 1000)
    if committed is None or balance - int(committed) - next_max < margin:
        committed = lab_commitments(lab_id=project.lab_id)
        cache.set(key, committed, getattr(settings, "REWARDS_COMMITMENTS_CACHE_SECONDS", 5))
    return BUDGET_EXHAUSTED if balance - int(committed) < next_max else None


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
                    spent.get(project.pk, 0) - returned.get(project.pk, 0) + repaid.get(project.pk, 0)
                ),
                "rewarded_labels": LedgerTransaction.objects.filter(
                    project=project, kind=LedgerTransaction.Kind.REWARD
                ).count(),
                "policy_version": policy.version if policy else None,
                "max_reward_per_label": str(policy_max_reward(policy)) if policy else None,
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
        .select_related("project")
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
