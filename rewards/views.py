"""Plain pages of rewards: an expert's earnings and statement; staff lab budgets."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rewards.ledger import ledger_balances
from rewards.selectors import access_lab_for_staff, expert_statement, lab_budgets
from rewards.services import budget_credit
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import form_add_service_error, raise_as_http, reviewer_required
from rlhf_platform.experts.services import expert_profile_ensure

TOKEN_DECIMALS = 18


def format_tokens(amount: int) -> str:
    """Base units as tokens, exactly (no float): 1500000000000000000 -> '1.5'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**TOKEN_DECIMALS)
    frac_text = str(frac).rjust(TOKEN_DECIMALS, "0").rstrip("0")
    return f"{sign}{whole}{'.' + frac_text if frac_text else ''}"


class CreditForm(forms.Form):
    amount = forms.IntegerField(min_value=1, help_text="Token base units (1 token = 10^18).")
    memo = forms.CharField(max_length=500, required=False)


@login_required
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
        },
    )


@reviewer_required
def staff_budgets(request):
    rows = [{**row, "tokens": format_tokens(int(row["remaining"]))} for row in lab_budgets()]
    return render(
        request,
        "rewards/staff_budgets.html",
        {"rows": rows, "form": CreditForm(), "can_credit": request.user.is_platform_admin},
    )


@require_POST
@reviewer_required
def staff_budget_credit(request, lab_id):
    if not request.user.is_platform_admin:
        raise PermissionDenied("Only platform admins may credit a budget.")
    try:
        lab = access_lab_for_staff(lab_id=lab_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    form = CreditForm(request.POST)
    if form.is_valid():
        try:
            budget_credit(
                lab=lab,
                amount=form.cleaned_data["amount"],
                actor=request.user,
                memo=form.cleaned_data["memo"],
            )
        except ApplicationError as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(
                request, f"Credited {format_tokens(form.cleaned_data['amount'])} tokens to {lab.name}."
            )
            return redirect("staff-budgets")
    rows = [{**row, "tokens": format_tokens(int(row["remaining"]))} for row in lab_budgets()]
    return render(
        request,
        "rewards/staff_budgets.html",
        {"rows": rows, "form": form, "can_credit": True, "failed_lab": str(lab.pk)},
        status=400,
    )
