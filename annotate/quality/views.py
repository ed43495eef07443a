"""Staff pages of quality: the projects, one project's report with its charts and annotator
table (filters: status, flag, minimum labels), and one item: its content (prompt and responses)
and labels. The projects list and a project's page follow quality as it changes: their script
(``js/quality_live.js``) fetches the live parts again (``quality_projects_live``,
``quality_project_live``: server-rendered fragments with the page's own query) when the staff
channel says a project's quality changed (``annotate.quality.live``). The charts alone are a
fragment too (``quality_project_charts``).

Plain server-rendered pages over the same numbers as the API (``annotate.quality.report``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe

from annotate.models import Item, Project
from annotate.quality.api import annotator_filter
from annotate.quality.chart_data import project_charts
from annotate.quality.report import annotator_report, item_drilldown, project_report
from annotate.rendering import prompt_html, render_markdown
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


def _projects_context(request) -> dict[str, Any]:
    projects = (
        Project.objects.select_related("lab", "domain")
        .annotate(label_total=Count("labels"))
        .order_by("-created_at")
    )
    return {"page": Paginator(projects, PAGE_SIZE).get_page(request.GET.get("page"))}


@action_required(A.STAFF_VIEW)
def quality_projects(request):
    return render(request, "quality/projects.html", _projects_context(request))


@action_required(A.STAFF_VIEW)
def quality_projects_live(request):
    """The projects list's table alone (same ``page``): fetched again when a project's quality
    changes."""
    return render(request, "quality/_projects_table.html", _projects_context(request))


def _project_of(project_id) -> Project:
    project = Project.objects.select_related("lab", "domain").filter(pk=project_id).first()
    if project is None:
        raise Http404("Project not found.")
    return project


def _project_context(request, project: Project) -> dict[str, Any]:
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
    return {
        "project": project,
        "report": report,
        "charts": project_charts(project=project),
        "annotators": annotators,
        "form": form,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < low["count"] else None,
        "previous_offset": max(offset - PAGE_SIZE, 0) if offset else None,
    }


@action_required(A.STAFF_VIEW)
def quality_project(request, project_id):
    project = _project_of(project_id)
    return render(request, "quality/project.html", _project_context(request, project))


@action_required(A.STAFF_VIEW)
def quality_project_live(request, project_id):
    """The live parts of a project's quality page (summary, charts, tables, annotators) for
    the same filters and offset: what the page's script swaps in when the quality changes."""
    project = _project_of(project_id)
    return render(request, "quality/_project_live.html", _project_context(request, project))


@action_required(A.STAFF_VIEW)
def quality_project_charts(request, project_id):
    """The charts of a project's quality page alone."""
    project = _project_of(project_id)
    context = {"project": project, "charts": project_charts(project=project)}
    return render(request, "quality/_charts.html", context)


def _sanitised(html: str) -> SafeString:
    # annotate.rendering passed the HTML through nh3's allow-list (no script, no handler, no
    # style, http(s)/mailto links only): it is inserted as it is.
    return mark_safe(html)  # noqa: S308


def item_content(item: Item) -> dict[str, Any]:
    """The item as staff read it: the prompt (one message, or a chat's messages with their
    roles) and the responses under their canonical letters, as sanitised HTML
    (``annotate.rendering``), for ``quality/_item_content.html``."""
    prompt = item.prompt
    rendered = prompt_html(prompt)
    if isinstance(prompt, list):
        roles = [(message.get("role") if isinstance(message, dict) else "") or "" for message in prompt]
        messages = [
            {"role": role, "html": _sanitised(html)} for role, html in zip(roles, rendered, strict=True)
        ]
    else:
        messages = [{"role": "", "html": _sanitised(rendered)}]
    responses = [
        {
            "letter": chr(ord("A") + index),
            "id": response.get("id", ""),
            "model": response.get("model", ""),
            "html": _sanitised(render_markdown(str(response.get("text", "")))),
        }
        for index, response in enumerate(item.responses or [])
    ]
    return {"messages": messages, "responses": responses, "gold": item.gold}


@action_required(A.STAFF_VIEW)
def quality_item(request, item_id):
    item = Item.objects.select_related("project").filter(uid=item_id).first()
    if item is None:
        raise Http404("Item not found.")
    context = {"item": item, "detail": item_drilldown(item=item), "content": item_content(item)}
    return render(request, "quality/item.html", context)
