"""Plain pages of rewards: an expert's earnings and statement; staff lab budgets."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rewards.credits import budget_credit, budget_credit_approve, budget_credit_reject
from rewards.holdbacks import holdbacks_pending
from rewards.ledger import ledger_balances
from rewards.live import expert_progress
from rewards.models import BudgetCredit, RewardPolicy
from rewards.selectors import (
    access_budget_credit,
    access_lab_for_staff,
    budget_credits,
    expert_statement,
    lab_budgets,
    reward_policies_by_id,
)
from rewards.tokens import TOKEN_DECIMALS, TokensField, format_tokens, format_tokens_exact
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.roles import principal_may
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import (
    action_required,
    confirm_page,
    confirmed,
    form_add_service_error,
    raise_as_http,
)
from rlhf_platform.experts.services import expert_profile_ensure


class CreditForm(forms.Form):
    amount = TokensField(
        label="Tokens", help_text=f"In tokens, up to {TOKEN_DECIMALS} decimals (e.g. 1000 or 12.5)."
    )
    memo = forms.CharField(max_length=500, required=False)


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros after the point: 1.50 -> "1.5", 80 -> "80", 0 -> "0"."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _times(bp: int) -> str:
    """Basis points as a factor: 12500 -> "×1.25", 0 -> "×0"."""
    return f"×{_plain(Decimal(int(bp)) / 10000)}"


def _percent(bp: int) -> str:
    """Basis points as a percentage: 8000 -> "80%", 2050 -> "20.5%"."""
    return f"{_plain(Decimal(int(bp)) / 100)}%"


def policy_terms(policy: RewardPolicy) -> list[tuple[str, str]]:
    """A reward policy version's terms in words, for the expert's statement."""
    multipliers = sorted(policy.level_multipliers_bp.items(), key=lambda pair: int(pair[0]))
    terms = [
        ("How it pays", policy.get_kind_display()),
        ("Base rate", f"{format_tokens(policy.base_rate)} tokens a label"),
        ("By expertise level", ", ".join(f"level {level} {_times(bp)}" for level, bp in multipliers)),
    ]
    if policy.kind == RewardPolicy.Kind.AGREEMENT:
        terms += [
            (
                "Agreement with the consensus",
                f"agrees {_times(policy.agreement_full_bp)}, adjacent {_times(policy.agreement_partial_bp)}, "
                f"contradicts {_times(policy.agreement_none_bp)}; below "
                f"{_percent(policy.consensus_min_confidence_bp)} consensus confidence every label counts "
                "as adjacent",
            ),
            (
                "Gold",
                f"over your last {policy.gold_window} graded gold items in the project: with at least "
                f"{policy.gold_min_seen} of them, an accuracy below {_percent(policy.gold_min_accuracy_bp)} "
                "earns nothing",
            ),
        ]
    else:
        terms += [
            ("Peer-prediction term", f"weight {_times(policy.peer_weight_bp)}"),
            ("Chance-corrected accuracy term", f"weight {_times(policy.right_weight_bp)}"),
            (
                "Scores averaged over",
                f"your last {policy.score_window} scored labels in the project, with "
                f"{policy.score_prior} labels of score 0 added",
            ),
            (
                "Paid when shown",
                "each term pays when your window shows information at z >= "
                f"{policy.evidence_z_hundredths / 100:.2f} "
                "(better than answering without reading the items)"
                if policy.evidence_z_hundredths
                else "each term pays whatever its window shows",
            ),
            (
                "Held back",
                f"{_percent(policy.holdback_bp)} of each reward, for {policy.settle_seconds / 86400:g} days",
            ),
        ]
    if int(policy.min_reward):
        terms.append(("Smallest reward", f"{format_tokens(policy.min_reward)} tokens for a label that earns"))
    terms.append(("In force from", f"{policy.effective_from:%Y-%m-%d %H:%M} UTC"))
    return terms


@action_required(A.EXPERT_WORK)
def earnings(request):
    profile = expert_profile_ensure(user=request.user)
    page = Paginator(expert_statement(expert=profile), 50).get_page(request.GET.get("page"))
    lines = list(page.object_list)
    policies = reward_policies_by_id(ids={(txn.data or {}).get("policy_id") for txn in lines})
    return render(
        request,
        "rewards/earnings.html",
        {
            "balances": ledger_balances(expert_id=profile.pk),
            "page": page,
            "lines": lines,
            "held_shares": holdbacks_pending(expert_id=profile.pk),
            "policies": [{"policy": policy, "terms": policy_terms(policy)} for policy in policies],
            # Staff follow an item to the staff item page; an expert, to their own label of it.
            "item_links": principal_may(request.user, A.STAFF_VIEW),
        },
    )


@action_required(A.EXPERT_WORK)
def earnings_progress(request):
    """The expert's counts and earnings of today alone (``rewards/_live_progress.html``): what
    the labelling page fetches again after each label (``js/earnings_live.js``)."""
    profile = expert_profile_ensure(user=request.user)
    return render(request, "rewards/_live_progress.html", {"progress": expert_progress(expert_id=profile.pk)})


def _staff_budgets_render(request, *, form: forms.Form, status: int = 200, **extra):
    rows = lab_budgets()
    pending = [
        {"credit": credit} for credit in budget_credits(status=BudgetCredit.Status.PENDING_APPROVAL)[:100]
    ]
    context = {
        "rows": rows,
        "form": form,
        "can_credit": principal_may(request.user, A.BUDGET_CREDIT),
        "can_approve": principal_may(request.user, A.BUDGET_CREDIT_APPROVE),
        "pending": pending,
        "threshold": settings.BUDGET_CREDIT_APPROVAL_THRESHOLD,
        **extra,
    }
    return render(request, "rewards/staff_budgets.html", context, status=status)


@action_required(A.STAFF_VIEW)
def staff_budgets(request):
    return _staff_budgets_render(request, form=CreditForm())


@require_POST
@action_required(A.BUDGET_CREDIT)
def staff_budget_credit(request, lab_id):
    try:
        lab = access_lab_for_staff(lab_id=lab_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    form = CreditForm(request.POST)
    if form.is_valid() and not confirmed(request):
        amount = form.cleaned_data["amount"]
        return confirm_page(
            request,
            title=f"Credit {format_tokens(amount)} tokens to {lab.name}?",
            action=reverse("staff-budget-credit", kwargs={"lab_id": lab.pk}),
            button="Credit the budget",
            back=reverse("staff-budgets"),
            details=[
                ("Lab", lab.name),
                ("Tokens", format_tokens_exact(amount)),
                ("Memo", form.cleaned_data["memo"] or "—"),
            ],
            note=f"A credit above {format_tokens(settings.BUDGET_CREDIT_APPROVAL_THRESHOLD)} tokens "
            "(with the lab's other single-admin credits of the last 24 hours) waits for a second admin.",
            fields={"amount": request.POST.get("amount", ""), "memo": form.cleaned_data["memo"]},
        )
    if form.is_valid():
        try:
            credit, _created = budget_credit(
                lab=lab,
                amount=form.cleaned_data["amount"],
                actor=request.user,
                memo=form.cleaned_data["memo"],
            )
        except ApplicationError as exc:
            form_add_service_error(form, exc)
        else:
            tokens = format_tokens(form.cleaned_data["amount"])
            if credit.status == BudgetCredit.Status.POSTED:
                messages.success(request, f"Credited {tokens} tokens to {lab.name}.")
            else:
                messages.success(
                    request, f"Credit of {tokens} tokens to {lab.name} waits for a second admin's approval."
                )
            return redirect("staff-budgets")
    return _staff_budgets_render(request, form=form, status=400, failed_lab=str(lab.pk))


def _credit_or_404(credit_id) -> BudgetCredit:
    try:
        return access_budget_credit(credit_id=credit_id)
    except ApplicationError as exc:
        raise_as_http(exc)


@require_POST
@action_required(A.BUDGET_CREDIT_APPROVE)
def staff_budget_credit_approve(request, credit_id):
    credit = _credit_or_404(credit_id)
    if not confirmed(request):
        return confirm_page(
            request,
            title=f"Approve the credit of {format_tokens(credit.amount)} tokens to {credit.lab.name}?",
            action=reverse("staff-budget-credit-approve", kwargs={"credit_id": credit.pk}),
            button="Approve and post",
            back=reverse("staff-budgets"),
            details=[
                ("Lab", credit.lab.name),
                ("Tokens", format_tokens_exact(credit.amount)),
                ("Memo", credit.memo or "—"),
                ("Asked by", getattr(credit.requested_by, "email", "") or "—"),
                ("Asked at", f"{credit.requested_at:%Y-%m-%d %H:%M} UTC"),
            ],
            note="The tokens are posted to the lab's budget at once.",
        )
    try:
        credit = budget_credit_approve(credit=credit, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Credit approved: {format_tokens(int(credit.amount))} tokens posted.")
    return redirect("staff-budgets")


@require_POST
@action_required(A.BUDGET_CREDIT_APPROVE)
def staff_budget_credit_reject(request, credit_id):
    try:
        budget_credit_reject(
            credit=_credit_or_404(credit_id), actor=request.user, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Credit rejected: nothing was posted.")
    return redirect("staff-budgets")
