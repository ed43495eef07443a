"""HTML pages of experts and staff: the profile, credential submission, the review queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.selectors import labs_for_user
from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error, raise_as_http
from rlhf_platform.experts.forms import (
    ApproveForm,
    CredentialForm,
    LinkFormSet,
    ProfileForm,
    QueueFilterForm,
    ReasonForm,
)
from rlhf_platform.experts.models import CREDENTIAL_TRANSITIONS, DEFAULT_LEVEL_BY_KIND, Credential, Level
from rlhf_platform.experts.selectors import (
    access_credential_for_staff,
    credentials_for_review,
    credentials_of_expert,
    expertise_levels,
)
from rlhf_platform.experts.services import (
    credential_approve,
    credential_reject,
    credential_revoke,
    credential_submit,
    expert_profile_ensure,
    expert_profile_update,
)

QUEUE_PAGE_SIZE = 50


def _levels(expert) -> list[dict]:
    return [
        {"domain": path, "level": level, "label": Level(level).label}
        for path, level in expertise_levels(expert=expert).items()
    ]


# --- The expert's own pages -----------------------------------------------------------------


@action_required(A.EXPERT_PROFILE)
def profile(request):
    profile = expert_profile_ensure(user=request.user)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        link_forms = LinkFormSet(request.POST, prefix="links")
        if all([form.is_valid(), link_forms.is_valid()]):
            rows = [row for row in link_forms if row.cleaned_data.get("url")]
            try:
                expert_profile_update(
                    profile=profile,
                    bio=form.cleaned_data["bio"],
                    links=[
                        {"kind": row.cleaned_data["kind"], "url": row.cleaned_data["url"]} for row in rows
                    ],
                    claimed_domains=list(form.cleaned_data["claimed_domains"]),
                )
            except (ApplicationError, ValidationError) as exc:
                form_add_service_error(form, exc, nested={"links": rows})
                profile.refresh_from_db()  # the service may have changed the object before refusing
            else:
                messages.success(request, "Profile saved.")
                return redirect("profile")
    else:
        form = ProfileForm(initial={"bio": profile.bio, "claimed_domains": profile.claimed_domains.all()})
        link_forms = LinkFormSet(initial=profile.links, prefix="links")
    context = {
        "profile": profile,
        "form": form,
        "link_forms": link_forms,
        "levels": _levels(profile),
        "credentials": credentials_of_expert(expert=profile),
        "labs": labs_for_user(user=request.user),
    }
    return render(request, "experts/profile.html", context)


@action_required(A.EXPERT_PROFILE)
def credential_new(request):
    profile = expert_profile_ensure(user=request.user)
    form = CredentialForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential = credential_submit(expert=profile, **form.cleaned_data)
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, f"“{credential.title}” submitted; staff will review it.")
            return redirect("profile")
    # A browser never refills a file input: the person who chose a file and sent a form with an
    # error is asked to choose it again (and only they are).
    dropped = form.is_bound and bool(form.errors) and bool(request.FILES.get("evidence"))
    return render(request, "experts/credential_new.html", {"form": form, "evidence_dropped": dropped})


# --- Staff review ---------------------------------------------------------------------------


@action_required(A.STAFF_VIEW)
def staff_queue(request):
    # No parameter: what waits for review; "?status=" (empty): everything.
    filter_form = QueueFilterForm({"status": request.GET.get("status", Credential.Status.SUBMITTED)})
    status = filter_form.cleaned_data["status"] if filter_form.is_valid() else Credential.Status.SUBMITTED
    page = Paginator(credentials_for_review(status=status or None), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "staff/queue.html", {"filter_form": filter_form, "page": page, "status": status})


def _staff_credential(credential_id) -> Credential:
    try:
        return access_credential_for_staff(credential_id=credential_id)
    except ApplicationError as exc:
        raise_as_http(exc)


def _render_staff_credential(request, credential: Credential, **bound_forms):
    # Four eyes: a reviewer's own credential is decided by another reviewer.
    own_case = credential.expert.user_id == request.user.pk
    allowed = () if own_case else CREDENTIAL_TRANSITIONS[credential.status]
    forms = {
        "approve_form": ApproveForm(initial={"level": DEFAULT_LEVEL_BY_KIND[credential.kind]}),
        "reject_form": ReasonForm(prefix="reject"),
        "revoke_form": ReasonForm(prefix="revoke"),
        **bound_forms,
    }
    context = {
        "credential": credential,
        "expert": credential.expert,
        "levels": _levels(credential.expert),
        "events": audit_events_for(target=credential).select_related("actor"),
        "own_case": own_case,
        # A form is shown when its transition is possible, or when it carries a refusal.
        "show_approve": Credential.Status.APPROVED in allowed or "approve_form" in bound_forms,
        "show_reject": Credential.Status.REJECTED in allowed or "reject_form" in bound_forms,
        "show_revoke": Credential.Status.REVOKED in allowed or "revoke_form" in bound_forms,
        **forms,
    }
    return render(request, "staff/credential_detail.html", context)


@action_required(A.STAFF_VIEW)
def staff_credential(request, credential_id):
    return _render_staff_credential(request, _staff_credential(credential_id))


@require_POST
@action_required(A.CREDENTIAL_DECIDE)
def staff_credential_approve(request, credential_id):
    credential = _staff_credential(credential_id)
    form = ApproveForm(request.POST)
    if form.is_valid():
        try:
            credential = credential_approve(
                credential=credential, reviewer=request.user, level=form.cleaned_data["level"]
            )
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, f"Approved at level {credential.level}.")
            return redirect("staff-credential", credential_id=credential.pk)
    return _render_staff_credential(request, credential, approve_form=form)


def _decide_with_reason(request, credential_id, *, service, prefix: str, done: str):
    credential = _staff_credential(credential_id)
    form = ReasonForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            credential = service(
                credential=credential, reviewer=request.user, reason=form.cleaned_data["reason"]
            )
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("staff-credential", credential_id=credential.pk)
    return _render_staff_credential(request, credential, **{f"{prefix}_form": form})


@require_POST
@action_required(A.CREDENTIAL_DECIDE)
def staff_credential_reject(request, credential_id):
    return _decide_with_reason(
        request, credential_id, service=credential_reject, prefix="reject", done="Rejected."
    )


@require_POST
@action_required(A.CREDENTIAL_DECIDE)
def staff_credential_revoke(request, credential_id):
    return _decide_with_reason(
        request, credential_id, service=credential_revoke, prefix="revoke", done="Revoked."
    )
