"""Staff pages of quality: the projects, one project's report with its annotator table
(filters: status, flag, minimum labels), and one item's labels.

Plain server-rendered pages over the same numbers as the API (``annotate.quality.report``).
"""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import render

from annotate.models import Item, Project
from annotate.quality.api import annotator_filter
from annotate.quality.report import annotator_report, item_drilldown, project_report
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.web import action_required

# The page's bootstrap: fewer samples than the API's default keep the page quick; the
# interval moves in the third decimal at most.
PAGE_BOOTSTRAP = 300
PAGE_SIZE = 50


class AnnotatorFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "any"), ("active", "active"), ("warned", "warned"), ("suspended", "suspended")],
    )
    flag = forms.CharField(required=False, max_length=40, help_text="e.g. position_bias")
    min_labels = forms.IntegerField(required=False, min_value=0, label="Min. labels")
    offset = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


@action_required(A.STAFF_VIEW)
def quality_projects(request):
    projects = (
        Project.objects.select_related("lab", "domain")
        .annotate(label_total=Count("labels"))
        .order_by("-created_at")
    )
    page = Paginator(projects, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "quality/projects.html", {"page": page})


@action_required(A.STAFF_VIEW)
def quality_project(request, project_id):
    project = Project.objects.select_related("lab", "domain").filter(pk=project_id).first()
    if project is None:
        raise Http404("Project not found.")
    form = AnnotatorFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    offset = filters.get("offset") or 0
    report = project_report(project=project, n_boot=PAGE_BOOTSTRAP, limit=PAGE_SIZE, offset=offset)
    annotators = annotator_filter(
        annotator_report(project=project, with_history=False),
        status=filters.get("status") or None,
        flag=filters.get("flag") or None,
        min_labels=filters.get("min_labels"),
    )
    low = report["low_agreement_items"]
    context = {
        "project": project,
        "report": report,
        "annotators": annotators,
        "form": form,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < low["count"] else None,
        "previous_offset": max(offset - PAGE_SIZE, 0) if offset else None,
    }
    return render(request, "quality/project.html", context)


@action_required(A.STAFF_VIEW)
def quality_item(request, item_id):
    item = Item.objects.select_related("project").filter(uid=item_id).first()
    if item is None:
        raise Http404("Item not found.")
    return render(request, "quality/item.html", {"item": item, "detail": item_drilldown(item=item)})
