"""Console pages of the lab itself: its members (owners manage them) and its webhooks with
their delivery log (owners resend a delivery)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rlhf_platform.accounts.members import (
    access_member,
    lab_member_invite,
    lab_member_remove,
    lab_member_role_change,
    lab_members,
)
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error, raise_as_http
from rlhf_platform.labconsole.access import console_lab, lab_context
from rlhf_platform.labconsole.forms import MemberForm
from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from rlhf_platform.webhooks.resend import webhook_delivery_resend

DELIVERY_LOG = 50


@action_required(A.LAB_MEMBERS_VIEW, post=A.LAB_MEMBERS_MANAGE)
def members(request, slug: str):
    lab = console_lab(request.user, slug)
    form = MemberForm()
    status = 200
    if request.method == "POST":
        lab = console_lab(request.user, slug, owner_only=True)
        form = MemberForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                lab_member_invite(lab=lab, actor=request.user, **form.cleaned_data)
            except (ApplicationError, ValidationError) as exc:
                form_add_service_error(form, exc)
            else:
                messages.success(
                    request, f"{form.cleaned_data['email']} added as {form.cleaned_data['role']}."
                )
                return redirect("lab-members", slug=lab.slug)
    context = {**lab_context(request.user, lab), "members": lab_members(lab=lab), "form": form}
    return render(request, "lab/members.html", context, status=status)


@require_POST
@action_required(A.LAB_MEMBERS_MANAGE)
def member_change(request, slug: str, user_id):
    """Change a member's role (``role``) or remove them (``remove``)."""
    lab = console_lab(request.user, slug, owner_only=True)
    try:
        membership = access_member(lab=lab, user_id=user_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    try:
        if request.POST.get("remove"):
            lab_member_remove(membership=membership, actor=request.user)
            messages.success(request, f"{membership.user.email} removed.")
        else:
            lab_member_role_change(
                membership=membership, role=request.POST.get("role", ""), actor=request.user
            )
            messages.success(request, f"{membership.user.email} is now {request.POST.get('role')}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("lab-members", slug=lab.slug)


@action_required(A.LAB_CONSOLE_VIEW)
def webhooks(request, slug: str):
    lab = console_lab(request.user, slug)
    endpoints = WebhookEndpoint.objects.filter(lab=lab).order_by("created_at")
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__lab=lab)
        .select_related("endpoint")
        .prefetch_related("attempt_log")
        .order_by("-created_at")[:DELIVERY_LOG]
    )
    context = {**lab_context(request.user, lab), "endpoints": endpoints, "deliveries": deliveries}
    return render(request, "lab/webhooks.html", context)


@require_POST
@action_required(A.LAB_SETTINGS_MANAGE)
def webhook_resend(request, slug: str, delivery_id):
    lab = console_lab(request.user, slug, owner_only=True)
    delivery = WebhookDelivery.objects.filter(endpoint__lab=lab, pk=delivery_id).first()
    if delivery is None:
        raise_as_http(ApplicationError("Delivery not found.", code="not_found", status_code=404))
    try:
        webhook_delivery_resend(delivery=delivery, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The {delivery.event} delivery is queued to be sent again.")
    return redirect("lab-webhooks", slug=lab.slug)
