"""Plain pages of the payouts app: link a wallet, my payouts; staff payout runs.

Linking works without JavaScript (get the message, sign it offline, paste the signature);
``static/js/wallet.js`` adds the one-click path through any EIP-1193 browser wallet.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rewards.chain import chain_status
from rewards.payouts.api import siwe_domain_and_uri
from rewards.payouts.models import PayoutRun
from rewards.payouts.selectors import (
    payout_failures,
    payout_lines_of_expert,
    payout_preview,
    payout_run_has_failures,
    payout_run_open,
    payout_run_totals,
    payout_runs,
    wallet_of,
)
from rewards.payouts.services import (
    payout_run_approve,
    payout_run_cancel,
    payout_run_create,
    payout_run_retry,
    wallet_link,
    wallet_message_create,
)
from rewards.tokens import format_tokens
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.roles import principal_may
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, confirm_page, confirmed, form_add_service_error
from rlhf_platform.experts.services import expert_profile_ensure


class AddressForm(forms.Form):
    address = forms.CharField(max_length=42, help_text="0x followed by 40 hex digits.")


class SignatureForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "readonly": True}), strip=False)
    signature = forms.CharField(max_length=132, help_text="0x followed by 130 hex digits.")


@action_required(A.EXPERT_WORK)
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


@action_required(A.EXPERT_WORK)
def my_payouts(request):
    profile = expert_profile_ensure(user=request.user)
    page = Paginator(payout_lines_of_expert(expert_id=profile.pk), 50).get_page(request.GET.get("page"))
    rows = [{"line": line} for line in page.object_list]
    return render(
        request,
        "payouts/my_payouts.html",
        {"page": page, "rows": rows, "wallet": wallet_of(expert_id=profile.pk)},
    )


@action_required(A.STAFF_VIEW, post=A.PAYOUT_RUN_START)
def staff_payouts(request):
    if request.method == "POST":
        if not confirmed(request):
            preview = payout_preview()
            if not preview["recipients"]:
                messages.info(
                    request,
                    "Nothing to pay now: no expert with a linked wallet has a payable balance of at least "
                    f"{format_tokens(preview['minimum'])} tokens.",
                )
                return redirect("staff-payouts")
            details = [
                ("Recipients", str(preview["recipients"])),
                ("Total", f"{format_tokens(preview['total'])} tokens"),
                ("Smallest payout", f"{format_tokens(preview['minimum'])} tokens"),
            ]
            if preview["without_wallet"]:
                details.append(("Left out (no wallet linked)", str(preview["without_wallet"])))
            return confirm_page(
                request,
                title="Plan a payout run?",
                action=reverse("staff-payouts"),
                button="Plan the run",
                back=reverse("staff-payouts"),
                details=details,
                note="Every payable balance at or above the smallest payout whose expert linked a wallet. "
                "Another admin approves the run before anything is paid.",
            )
        try:
            run = payout_run_create(trigger=PayoutRun.Trigger.STAFF, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("staff-payouts")
        messages.success(request, "Payout run planned: another admin approves it before anything is paid.")
        return redirect("staff-payout-run", run_id=run.pk)
    page = Paginator(payout_runs(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "payouts/staff_runs.html",
        {
            "page": page,
            "failures": payout_failures()[:20],
            "chain": chain_status(),
            "can_start": principal_may(request.user, A.PAYOUT_RUN_START),
            "open_run": payout_run_open(),
        },
    )


def _run_or_404(run_id) -> PayoutRun:
    run = PayoutRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such payout run.")
    return run


def _retry_offer(run: PayoutRun) -> str | None:
    """What the retry button does here: resume a running run, retry a finished one that left a
    failure; None when neither applies (no button)."""
    if run.status == PayoutRun.Status.RUNNING:
        return "resume"
    if run.status == PayoutRun.Status.COMPLETED and payout_run_has_failures(run):
        return "retry"
    return None


@action_required(A.STAFF_VIEW, post=A.PAYOUT_RUN_RETRY)
def staff_payout_run(request, run_id):
    run = _run_or_404(run_id)
    if request.method == "POST":
        try:
            run = payout_run_retry(run=run, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("staff-payout-run", run_id=run.pk)
    totals = payout_run_totals(run)
    return render(
        request,
        "payouts/staff_run.html",
        {
            "run": run,
            "transactions": run.transactions.order_by("seq"),
            "totals": totals,
            # Four eyes: the admin who started a run sees that another must approve it.
            "can_approve": principal_may(request.user, A.PAYOUT_RUN_APPROVE)
            and run.created_by_id != request.user.pk,
            "can_cancel": principal_may(request.user, A.PAYOUT_RUN_APPROVE),
            "can_retry": principal_may(request.user, A.PAYOUT_RUN_RETRY),
            "retry": _retry_offer(run),
        },
    )


@require_POST
@action_required(A.PAYOUT_RUN_APPROVE)
def staff_payout_run_approve(request, run_id):
    run = _run_or_404(run_id)
    if not confirmed(request):
        totals = payout_run_totals(run)
        return confirm_page(
            request,
            title="Approve and pay this run?",
            action=reverse("staff-payout-run-approve", kwargs={"run_id": run.pk}),
            button="Approve and pay",
            back=reverse("staff-payout-run", kwargs={"run_id": run.pk}),
            details=[
                ("Started", f"{run.created_at:%Y-%m-%d %H:%M:%S} by {getattr(run.created_by, 'email', '')}"),
                ("Recipients", str(run.lines.count())),
                ("Total", f"{format_tokens(sum(totals.values()))} tokens"),
            ],
            note="The tokens are sent on the chain at once; a payment cannot be called back.",
        )
    try:
        run = payout_run_approve(run=run, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Payout run approved: {run.get_status_display()}.")
    return redirect("staff-payout-run", run_id=run_id)


@require_POST
@action_required(A.PAYOUT_RUN_APPROVE)
def staff_payout_run_cancel(request, run_id):
    try:
        payout_run_cancel(run=_run_or_404(run_id), actor=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Payout run cancelled: nothing of it was paid.")
    return redirect("staff-payout-run", run_id=run_id)
