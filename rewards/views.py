"""Plain pages of rewards: an expert's earnings and statement; staff lab budgets."""

from __future__ import annotations

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
from rewards.models import BudgetCredit
from rewards.selectors import (
    access_budget_credit,
    access_lab_for_staff,
    budget_credits,
    expert_statement,
    lab_budgets,
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


@action_required(A.EXPERT_WORK)
def earnings(request):
    profile = expert_profile_ensure(user=request.user)
    balances = ledger_balances(expert_id=profile.pk)
    page = Paginator(expert_statement(expert=profile), 50).get_page(request.GET.get("page"))
    lines = [
        {"txn": txn, "amount": int(txn.amount), "tokens": format_tokens(int(txn.amount)), "data": txn.data}
        for txn in page.object_list
    ]
    return render(
        request,
        "rewards/earnings.html",
        {
            "balances": {k: {"units": v, "tokens": format_tokens(v)} for k, v in balances.items()},
            "page": page,
            "lines": lines,
            "held_shares": [
                {**share, "tokens": format_tokens(share["held"])}
                for share in holdbacks_pending(expert_id=profile.pk)
            ],
        },
    )


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
    try:
        credit = budget_credit_approve(credit=_credit_or_404(credit_id), actor=request.user)
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
