"""The staff page of suspected groups of annotators (:mod:`annotate.quality.groups`): each group
with its members and evidence, and one decision for all its members (confirm or clear, with a
note). A refused decision is shown next to its form with what the reviewer typed kept."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import AnnotatorGroup
from annotate.quality.groups import DECISIONS, group_decide, group_summary, staff_groups
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error

GROUPS_PAGE_SIZE = 25
STATUSES = ("suspected", "confirmed", "cleared")
DECISION_LABELS = {
    "confirm": "Confirm: suspend every member from the project and exclude all their labels there "
    "(final items are revised, paid rewards clawed back); each member may appeal",
    "clear": "Clear: the evidence has an honest explanation; their held rewards are paid",
}
SIGNAL_LABELS = {
    "agreement": "agreement beyond their accuracies",
    "group_agreement": "agreement as a group beyond their accuracies",
    "timing": "submits close in time",
    "credential": "same credential file",
    "fingerprint": "same log-in device",
}


class GroupDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[(value, DECISION_LABELS[value]) for value in DECISIONS], widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Reason (shown to the members with a confirmation)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 5000}),
    )


def _form_id(group_id) -> str:
    return f"id_%s_{group_id}"


def _pseudonyms(group: AnnotatorGroup) -> dict[str, str]:
    return {str(m.expert_id): m.expert.pseudonym for m in group.members.all()}


def _edges(group: AnnotatorGroup) -> list[dict]:
    """The group's edges with pseudonyms instead of ids, one line of evidence per signal."""
    names = _pseudonyms(group)
    rows = []
    for edge in (group.evidence or {}).get("edges", []):
        signals = []
        for signal, ev in edge["signals"].items():
            if signal == "agreement":
                text = (
                    f"{ev['agreed']} of {ev['shared_items']} shared items agreed, "
                    f"{ev['surprising']} surprising; e-value {ev['log_e']:.1f} nats "
                    f"(threshold {ev['threshold']:.1f})"
                )
            elif signal == "group_agreement":
                text = (
                    f"the {ev['members']} accounts all agreed on {ev['agreed']} of the {ev['items']} items "
                    f"two or more of them answered; group e-value {ev['log_e']:.1f} nats "
                    f"(threshold {ev['threshold']:.1f} for a group of {ev['members']})"
                )
            elif signal == "timing":
                text = (
                    f"{ev['close']} submits within {ev['window_seconds']:g} s (expected {ev['expected']:.1f})"
                )
            elif signal == "credential":
                text = "file " + ", ".join(ev["sha256"])
            else:
                text = "device " + ", ".join(ev["devices"])
            signals.append({"label": SIGNAL_LABELS.get(signal, signal), "text": text})
        rows.append(
            {"a": names.get(edge["a"], edge["a"]), "b": names.get(edge["b"], edge["b"]), "signals": signals}
        )
    return rows


def _render(request, bound: dict | None = None):
    status = request.GET.get("status") or "suspected"
    if status not in STATUSES:
        status = "suspected"
    page = Paginator(staff_groups(status=status), GROUPS_PAGE_SIZE).get_page(request.GET.get("page"))
    groups = list(page.object_list)
    if bound and not any(g.pk == bound["group"].pk for g in groups):
        groups.insert(0, bound["group"])
    rows = []
    for group in groups:
        form = bound["form"] if bound and bound["group"].pk == group.pk else None
        if form is None and group.status == AnnotatorGroup.Status.SUSPECTED:
            form = GroupDecisionForm(auto_id=_form_id(group.pk))
        rows.append(
            {
                "group": group,
                "members": list(group.members.all()),
                "summary": group_summary(group),
                "edges": _edges(group),
                "form": form,
            }
        )
    return render(
        request,
        "quality/staff_groups.html",
        {"page": page, "rows": rows, "status": status, "statuses": STATUSES},
    )


@action_required(A.STAFF_VIEW)
def staff_groups_page(request):
    return _render(request)


@require_POST
@action_required(A.GROUP_DECIDE)
def staff_group_decide(request, group_id):
    group = staff_groups().filter(pk=group_id).first()
    if group is None:
        raise Http404("Group not found.")
    form = GroupDecisionForm(request.POST, auto_id=_form_id(group.pk))
    if form.is_valid():
        try:
            group = group_decide(
                group=group,
                actor=request.user,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            form_add_service_error(form, exc)
            group = staff_groups().get(pk=group.pk)
        else:
            messages.success(
                request, f"Group of {group.members.count()} in “{group.project.name}”: {group.status}."
            )
            return redirect("staff-groups")
    return _render(request, {"group": group, "form": form})
