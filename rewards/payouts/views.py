"""Plain pages of the payouts app: link a wallet, my payouts; staff payout runs.

Linking works without JavaScript (get the message, sign it offline, paste the signature);
``static/js/wallet.js`` adds the one-click path through any EIP-1193 browser wallet.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from rewards.chain import chain_status
from rewards.payouts.api import siwe_domain_and_uri
from rewards.payouts.models import PayoutRun
from rewards.payouts.selectors import (
    payout_failures,
    payout_lines_of_expert,
    payout_run_totals,
    payout_runs,
    wallet_of,
)
from rewards.payouts.services import (
    payout_run_create,
    payout_run_dispatch,
    payout_run_retry,
    wallet_link,
    wallet_message_create,
)
from rewards.views import format_tokens
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import form_add_service_error, reviewer_required
from rlhf_platform.experts.services import expert_profile_ensure


class AddressForm(forms.Form):
    address = forms.CharField(max_length=42, help_text="0x followed by 40 hex digits.")


class SignatureForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "readonly": True}), strip=False)
    signature = forms.CharField(max_length=132, help_text="0x followed by 130 hex digits.")


@login_required
def wallet(request):
    profile = expert_profile_ensure(user=request.user)
    address_form, signature_form = AddressForm(), None
    if request.method == "POST":
        domain, uri = siwe_domain_and_uri(request)
        if "signature" in request.POST:
            signature_form = SignatureForm(request.POST)
            if signature_form.is_valid():
                try:
                    wallet_link(
                        expert=profile,
                        message=signature_form.cleaned_data["message"].replace("\r\n", "\n"),
                        signature=signature_form.cleaned_data["signature"].strip(),
                        domain=domain,
                        actor=request.user,
                    )
                except ApplicationError as exc:
                    form_add_service_error(signature_form, exc)
                else:
                    messages.success(request, "Wallet linked.")
                    return redirect("wallet")
        else:
            address_form = AddressForm(request.POST)
            if address_form.is_valid():
                try:
                    issued = wallet_message_create(
                        expert=profile, address=address_form.cleaned_data["address"], domain=domain, uri=uri
                    )
                except ApplicationError as exc:
                    form_add_service_error(address_form, exc)
                else:
                    signature_form = SignatureForm(initial={"message": issued.message})
    return render(
        request,
        "payouts/wallet.html",
        {
            "wallet": wallet_of(expert_id=profile.pk),
            "address_form": address_form,
            "signature_form": signature_form,
        },
    )


@login_required
def my_payouts(request):
    profile = expert_profile_ensure(user=request.user)
    page = Paginator(payout_lines_of_expert(expert_id=profile.pk), 50).get_page(request.GET.get("page"))
    rows = [{"line": line, "tokens": format_tokens(int(line.amount))} for line in page.object_list]
    return render(
        request,
        "payouts/my_payouts.html",
        {"page": page, "rows": rows, "wallet": wallet_of(expert_id=profile.pk)},
    )


@reviewer_required
def staff_payouts(request):
    if request.method == "POST":
        try:
            run = payout_run_create(trigger=PayoutRun.Trigger.STAFF, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("staff-payouts")
        payout_run_dispatch(run=run)
        return redirect("staff-payout-run", run_id=run.pk)
    page = Paginator(payout_runs(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "payouts/staff_runs.html",
        {"page": page, "failures": payout_failures()[:20], "chain": chain_status()},
    )


@reviewer_required
def staff_payout_run(request, run_id):
    run = PayoutRun.objects.filter(pk=run_id).first()
    if run is None:
        from django.http import Http404

        raise Http404("No such payout run.")
    if request.method == "POST":
        try:
            run = payout_run_retry(run=run, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("staff-payout-run", run_id=run.pk)
    totals = {key: format_tokens(value) for key, value in payout_run_totals(run).items()}
    return render(
        request,
        "payouts/staff_run.html",
        {"run": run, "transactions": run.transactions.order_by("seq"), "totals": totals},
    )
