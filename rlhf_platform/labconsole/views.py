"""Console pages: the labs of a person, a lab's projects with their progress, a project's
settings with the schema editor and its live preview."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Project
from annotate.schema import DEFAULT_SCHEMA
from annotate.selectors import projects_for_lab
from annotate.services import project_create, project_update
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.selectors import labs_for_user
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error
from rlhf_platform.experts.selectors import access_domain_by_path
from rlhf_platform.labconsole.access import console_lab, console_project, lab_context
from rlhf_platform.labconsole.forms import ProjectForm
from rlhf_platform.labconsole.preview import preview_context, schema_text
from rlhf_platform.labconsole.selectors import projects_progress

PROJECT_LIMIT = 200  # projects listed on the console's home; the API pages through every one


def progress_summary(progress: dict) -> dict:
    """The figures a project row shows: final items of the ordinary ones, filled slots."""
    items = progress["items"]
    done = items["by_state"].get("final", 0)
    slots = progress["slots"]
    return {
        "items": items["ordinary"],
        "final": done,
        "final_percent": round(100 * done / items["ordinary"]) if items["ordinary"] else 0,
        "slots_filled": slots["filled"],
        "slots_total": slots["total"],
        "slots_percent": round(100 * slots["filled"] / slots["total"]) if slots["total"] else 0,
        "by_state": items["by_state"],
        "labels": progress["labels"]["ordinary"],
        "eta_seconds": progress["eta_seconds"],
    }


@action_required(A.LAB_CONSOLE_VIEW)
def console_index(request):
    """The person's labs; with one lab, that lab's console."""
    labs = list(labs_for_user(user=request.user))
    if len(labs) == 1:
        return redirect("lab-console", slug=labs[0].slug)
    return render(request, "lab/index.html", {"labs": labs})


@action_required(A.LAB_CONSOLE_VIEW)
def lab_console(request, slug: str):
    lab = console_lab(request.user, slug)
    projects = list(projects_for_lab(lab=lab).order_by("-created_at")[:PROJECT_LIMIT])
    progress = projects_progress(projects=projects)
    rows = [{"project": p, "progress": progress[p.pk]} for p in projects]
    return render(request, "lab/home.html", {**lab_context(request.user, lab), "rows": rows})


def _project_values(form: ProjectForm) -> dict:
    values = form.service_values()
    values["domain"] = access_domain_by_path(path=values["domain"])
    return values


def _editor(request, lab, form, *, project: Project | None, status: int = 200):
    context = {
        **lab_context(request.user, lab),
        "form": form,
        "project": project,
        "preview": preview_context(text=form["label_schema"].value() or "", project=project),
    }
    return render(request, "lab/project_form.html", context, status=status)


@action_required(A.LAB_CONSOLE_VIEW, post=A.LAB_PROJECTS_MANAGE)
def project_new(request, slug: str):
    lab = console_lab(request.user, slug)
    if request.method != "POST":
        return _editor(
            request, lab, ProjectForm(initial={"label_schema": schema_text(DEFAULT_SCHEMA)}), project=None
        )
    form = ProjectForm(request.POST)
    if form.is_valid():
        try:
            project = project_create(lab=lab, actor=request.user, **_project_values(form))
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("lab-project", slug=lab.slug, project_id=project.pk)
    return _editor(request, lab, form, project=None, status=400)


@action_required(A.LAB_CONSOLE_VIEW, post=A.LAB_PROJECTS_MANAGE)
def project_edit(request, slug: str, project_id):
    lab, project = console_project(request.user, slug, project_id)
    if request.method != "POST":
        initial = {
            field: getattr(project, field) for field in ProjectForm.base_fields if hasattr(project, field)
        }
        initial.update(domain=project.domain.path, label_schema=schema_text(project.label_schema))
        return _editor(request, lab, ProjectForm(initial=initial), project=project)
    form = ProjectForm(request.POST)
    if form.is_valid():
        try:
            project = project_update(project=project, actor=request.user, **_project_values(form))
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, "Project saved.")
            return redirect("lab-project", slug=lab.slug, project_id=project.pk)
    return _editor(request, lab, form, project=project, status=400)


@require_POST
@action_required(A.LAB_CONSOLE_VIEW)
def schema_preview(request, slug: str):
    """The preview fragment for the schema in ``label_schema`` (and the sample item of
    ``project`` when given and the lab's), for the editor's script."""
    lab = console_lab(request.user, slug)
    project = None
    if request.POST.get("project"):
        try:
            project = projects_for_lab(lab=lab).filter(pk=request.POST["project"]).first()
        except ValidationError:
            project = None
    context = {"preview": preview_context(text=request.POST.get("label_schema", ""), project=project)}
    return render(request, "lab/_preview.html", context)
