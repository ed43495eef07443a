"""Console pages of the lab itself: its members (owners manage them) and its webhooks with
their delivery log (owners resend a delivery)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
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
from rlhf_platform.labconsole.forms import MemberForm, WebhookForm
from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from rlhf_platform.webhooks.resend import webhook_delivery_resend
from rlhf_platform.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_test,
    webhook_endpoint_update,
)

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


@never_cache
@action_required(A.LAB_CONSOLE_VIEW, post=A.LAB_SETTINGS_MANAGE)
def webhooks(request, slug: str):
    """The lab's endpoints and delivery log; owners register an endpoint here (its signing
    secret is in this one response only)."""
    lab = console_lab(request.user, slug)
    form = WebhookForm()
    created = None
    status = 200
    if request.method == "POST":
        lab = console_lab(request.user, slug, owner_only=True)
        form = WebhookForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                endpoint, secret = webhook_endpoint_create(lab=lab, actor=request.user, **form.cleaned_data)
            except (ApplicationError, ValidationError) as exc:
                form_add_service_error(form, exc)
            else:
                created, form, status = {"endpoint": endpoint, "secret": secret}, WebhookForm(), 201
    endpoints = WebhookEndpoint.objects.filter(lab=lab).order_by("created_at")
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__lab=lab)
        .select_related("endpoint")
        .prefetch_related("attempt_log")
        .order_by("-created_at")[:DELIVERY_LOG]
    )
    context = {
        **lab_context(request.user, lab),
        "endpoints": endpoints,
        "deliveries": deliveries,
        "form": form,
        "created": created,
    }
    return render(request, "lab/webhooks.html", context, status=status)


WEBHOOK_OPERATIONS = ("pause", "resume", "test", "delete")


@require_POST
@action_required(A.LAB_SETTINGS_MANAGE)
def webhook_change(request, slug: str, webhook_id):
    """An owner pauses, resumes, tests (``op=test``: a signed ``webhook.test`` event) or
    deletes one of the lab's endpoints."""
    lab = console_lab(request.user, slug, owner_only=True)
    endpoint = WebhookEndpoint.objects.filter(lab=lab, pk=webhook_id).first()
    if endpoint is None:
        raise_as_http(ApplicationError("Webhook not found.", code="not_found", status_code=404))
    op = request.POST.get("op", "")
    if op not in WEBHOOK_OPERATIONS:
        messages.error(request, f"op is one of {list(WEBHOOK_OPERATIONS)}.")
    elif op == "test":
        webhook_endpoint_test(endpoint=endpoint, actor=request.user)
        messages.success(request, "A webhook.test event is on its way; its delivery is in the log.")
    elif op == "delete":
        webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
        messages.success(request, f"Webhook {endpoint.url} deleted.")
    else:
        webhook_endpoint_update(endpoint=endpoint, is_active=op == "resume", actor=request.user)
        messages.success(request, f"Webhook {endpoint.url} {'resumed' if op == 'resume' else 'paused'}.")
    return redirect("lab-webhooks", slug=lab.slug)


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
