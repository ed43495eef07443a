"""HTML pages of project suspensions and their appeal: the expert's "My suspensions" page,
where an active suspension not yet appealed can be appealed once, and the staff page of
pending appeals, each decided (``DECISIONS``) with a note.

The pages only call the services of :mod:`annotate.quality.suspension`; their refusals are
shown next to the form that caused them, with what the person typed kept.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import ProjectSuspension
from annotate.quality.selectors import suspensions_for_expert, suspensions_pending_appeal
from annotate.quality.suspension import DECISIONS, suspension_appeal, suspension_decide
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user

MY_SUSPENSIONS_LIMIT = 200
APPEALS_PAGE_SIZE = 50

REASONS = {
    "gold_accuracy": "Answers on check items below the project's standard",
    "staff": "Suspended by platform staff",
    "group": "Staff confirmed that your account belongs to a group of accounts acting as one "
    "(one person's accounts, or accounts copying each other's answers)",
}
DECISION_LABELS = {
    "reinstate": "Reinstate: lift the suspension; the labels it excluded count again "
    "(on items already final, they are paid)",
    "uphold": "Uphold: the suspension stays",
}


class AppealForm(forms.Form):
    # Length and the other rules are the service's (suspension_appeal): one place decides.
    text = forms.CharField(
        label="Your appeal",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 5000}),
        help_text="Why the suspension should be lifted, e.g. which check items you think were "
        "ambiguous. You can appeal once; staff decide.",
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[(value, DECISION_LABELS.get(value, value)) for value in DECISIONS],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note to the expert",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 5000}),
    )


def _form_id(suspension_id: Any) -> str:
    # Several forms on one page: field names stay plain, element ids become unique.
    return f"id_%s_{suspension_id}"


def _chance(probability: float) -> str:
    """A small probability in words: 0.0005 reads "1 in 2,000", 0.05 reads "5%"."""
    if 0 < probability < 0.01:
        return f"1 in {round(1 / probability):,}"
    return f"{probability:.0%}"


def _sequential_test_summary(details: dict[str, Any]) -> str:
    """The suspension test's record (``annotate.quality.reputation.suspension_details``) in words."""
    evidence = int(details.get("evidence") or 0)
    passed, failed = int(details.get("passed") or 0), int(details.get("failed") or 0)
    text = (
        "The sequential test on your gold and silver grades (your answers on check items whose answer "
        "is known, and how well your answers on finished items match the other labels there) crossed "
        f"its bound after {evidence} graded label{'s' if evidence != 1 else ''}"
    )
    if details.get("statistic_nats") is not None and details.get("threshold_nats") is not None:
        text += (
            f": the evidence against you reached {float(details['statistic_nats']):.1f}, "
            f"above the bound of {float(details['threshold_nats']):.1f}"
        )
    text += f". On check items since the test last started: {passed} right, {failed} missed."
    graded = int(details.get("silver_graded") or 0)
    if graded:
        agreed = int(details.get("silver_agreed") or 0)
        text += (
            f" On finished items from where the run began, {graded} of your answers were set against "
            f"the other labels: {agreed} matched their consensus"
        )
        if details.get("silver_mean_support") is not None:
            text += (
                f", and the other labels gave your answers {float(details['silver_mean_support']):.0%} "
                "probability on average"
            )
        text += "."
    if details.get("p0") is not None and details.get("alpha") is not None:
        text += (
            f" The bound is set so that an annotator at the project's standard ({float(details['p0']):.0%} "
            f"right on check items) is suspended by mistake with a probability of at most "
            f"{_chance(float(details['alpha']))} over {int(details.get('horizon') or 0):,} graded labels."
        )
    if details.get("change_point"):
        text += (
            f" Your labels from {str(details['change_point'])[:16].replace('T', ' ')} UTC on, where the run "
            "of misses began, are left out of the consensus."
        )
    return text


def evidence_summary(suspension: ProjectSuspension) -> str:
    """The suspension's reason and evidence (``details``) in sentences for people."""
    details = suspension.details or {}
    if suspension.reason == "gold_accuracy" and details.get("test") == "cusum":
        return _sequential_test_summary(details)
    if suspension.reason == "gold_accuracy" and {"passed", "failed", "mean", "high"} <= details.keys():
        passed, failed = int(details["passed"]), int(details["failed"])
        text = (
            f"On check items: {passed} of {passed + failed} answered as expected; estimated accuracy "
            f"{details['mean']:.0%} (at best {details['high']:.0%} with 95% credibility)"
        )
        if details.get("gold_threshold") is not None:
            text += f", below the project's standard of {float(details['gold_threshold']):.0%}"
        return text + "."
    reason = REASONS.get(suspension.reason, suspension.reason)
    extra = "; ".join(f"{key}: {value}" for key, value in details.items() if value not in (None, ""))
    return f"{reason} ({extra})." if extra else f"{reason}."


# --- The expert's page ----------------------------------------------------------------------


def _expert(request) -> ExpertProfile | None:
    return expert_of_user(request.user)


def _render_my_suspensions(request, expert: ExpertProfile | None, bound: dict | None = None):
    """``bound``: the suspension id and the form carrying a refusal, shown instead of a blank one."""
    suspensions = list(suspensions_for_expert(expert_id=expert.pk)[:MY_SUSPENSIONS_LIMIT]) if expert else []
    rows = []
    for suspension in suspensions:
        form = None
        if bound and bound["suspension_id"] == suspension.pk:
            form = bound["form"]
        elif suspension.active and suspension.appeal == ProjectSuspension.Appeal.NONE:
            form = AppealForm(auto_id=_form_id(suspension.pk))
        rows.append({"suspension": suspension, "evidence": evidence_summary(suspension), "form": form})
    return render(request, "quality/my_suspensions.html", {"rows": rows, "is_expert": expert is not None})


@action_required(A.EXPERT_WORK)
def my_suspensions(request):
    return _render_my_suspensions(request, _expert(request))


@require_POST
@action_required(A.EXPERT_WORK)
def my_suspension_appeal(request, suspension_id):
    expert = _expert(request)
    # Only the expert's own suspension: anyone else's answers as if it did not exist.
    suspension = ProjectSuspension.objects.filter(pk=suspension_id, expert=expert).first() if expert else None
    if suspension is None:
        raise Http404("Suspension not found.")
    form = AppealForm(request.POST, auto_id=_form_id(suspension.pk))
    if form.is_valid():
        try:
            suspension_appeal(suspension=suspension, expert=expert, text=form.cleaned_data["text"])
        except ApplicationError as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, f"Appeal sent for “{suspension.project.name}”: staff will decide.")
            return redirect("suspensions")
    return _render_my_suspensions(request, expert, {"suspension_id": suspension.pk, "form": form})


# --- Staff ----------------------------------------------------------------------------------


def _render_staff_appeals(request, bound: dict | None = None):
    page = Paginator(suspensions_pending_appeal(), APPEALS_PAGE_SIZE).get_page(request.GET.get("page"))
    suspensions = list(page.object_list)
    refused = None
    if bound:
        # A refused decision stays in view even when the appeal has left the pending list
        # (another reviewer decided it first), so the refusal is read next to its row.
        if not any(s.pk == bound["suspension"].pk for s in suspensions):
            refused = bound["suspension"]
            suspensions.insert(0, refused)
    rows = []
    for suspension in suspensions:
        if bound and bound["suspension"].pk == suspension.pk:
            form = bound["form"]
        else:
            form = DecisionForm(auto_id=_form_id(suspension.pk))
        rows.append({"suspension": suspension, "evidence": evidence_summary(suspension), "form": form})
    return render(request, "quality/staff_appeals.html", {"page": page, "rows": rows, "refused": refused})


@action_required(A.STAFF_VIEW)
def staff_appeals(request):
    return _render_staff_appeals(request)


@require_POST
@action_required(A.SUSPENSION_DECIDE)
def staff_appeal_decide(request, suspension_id):
    suspension = (
        ProjectSuspension.objects.select_related("project", "expert", "expert__user")
        .filter(pk=suspension_id)
        .first()
    )
    if suspension is None:
        raise Http404("Suspension not found.")
    form = DecisionForm(request.POST, auto_id=_form_id(suspension.pk))
    if form.is_valid():
        try:
            suspension = suspension_decide(
                suspension=suspension,
                actor=request.user,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            form_add_service_error(form, exc)
            suspension.refresh_from_db()
        else:
            who, project = suspension.expert.pseudonym, suspension.project.name
            if suspension.active:
                messages.success(request, f"Upheld: {who} stays suspended from “{project}”.")
            else:
                messages.success(request, f"Reinstated: {who} may label in “{project}” again.")
            return redirect("staff-appeals")
    return _render_staff_appeals(request, {"suspension": suspension, "form": form})
