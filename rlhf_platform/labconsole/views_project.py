"""Console pages of one project: its overview (progress, batches, exports, budget and reward
policies, exams), its quality report and its export downloads."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from annotate.api_exports import ProjectExportApi, _async_blocks
from annotate.exports import (
    CONTENT_TYPES,
    EXPORT_FORMATS,
    FILE_FORMATS,
    FORMS,
    TRAINING_FORMATS,
    export_filename,
    export_filters,
    export_lines,
    export_parquet,
    export_parquet_blocks,
)
from annotate.models import Batch
from annotate.progress import project_progress
from annotate.qualification.models import Exam
from annotate.qualification.services import exam_create
from annotate.quality.report import project_report
from rewards.policy import policy_in_force, policy_max_reward
from rewards.policy_information import policy_expected_cost
from rewards.selectors import lab_spend, reward_policies_of_project
from rewards.services import reward_policy_create
from rewards.tokens import format_tokens
from rewards.views import policy_terms
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error
from rlhf_platform.labconsole.access import console_lab, console_project, lab_context
from rlhf_platform.labconsole.charts import progress_charts, quality_charts
from rlhf_platform.labconsole.forms import ExamForm, RewardPolicyForm
from rlhf_platform.labconsole.views import progress_summary

QUALITY_BOOTSTRAP = 300  # as the staff page: fewer samples keep the page quick
QUALITY_PAGE = 50
EXPORT_DESCRIPTIONS = {
    "raw": "every label, one row each",
    "consensus": "one row per item with its consensus",
    "dpo": "TRL DPO: prompt, chosen, rejected",
    "reward": "TRL reward model: chosen, rejected, margin",
    "ranking": "prompt, completions best first, ranks",
}


def export_links(*, slug: str, project) -> list[dict]:
    """A download link for every format, in each file format; the training formats also in
    their other form and with metadata (the query parameters of the lab API's export)."""
    base = reverse("lab-project-export", kwargs={"slug": slug, "project_id": project.pk})
    other_form = next(f for f in FORMS if f != project.export_form)
    rows = []
    for export_format in EXPORT_FORMATS:
        links = [
            (
                "JSON Lines" if file_format == "jsonl" else "Parquet",
                {"format": export_format, "file_format": file_format},
            )
            for file_format in FILE_FORMATS
        ]
        if export_format in TRAINING_FORMATS:
            links += [
                (f"{other_form} form", {"format": export_format, "form": other_form}),
                ("with metadata", {"format": export_format, "include": "metadata"}),
                ("unfinished items too", {"format": export_format, "include_unfinished": "true"}),
            ]
        rows.append(
            {
                "format": export_format,
                "description": EXPORT_DESCRIPTIONS.get(export_format, ""),
                "links": [{"text": text, "url": f"{base}?{urlencode(query)}"} for text, query in links],
            }
        )
    return rows


def _policies(project) -> list[dict]:
    in_force = policy_in_force(project_id=project.pk)
    rows = []
    for policy in reward_policies_of_project(project=project)[:10]:
        cost = policy_expected_cost(policy)
        rows.append(
            {
                "policy": policy,
                "in_force": in_force is not None and policy.pk == in_force.pk,
                "terms": policy_terms(policy),
                "max_reward": format_tokens(policy_max_reward(policy)),
                "expected_cost": format_tokens(cost["expected_cost_per_label"]),
                "basis": cost["basis"],
            }
        )
    return rows


@action_required(A.LAB_CONSOLE_VIEW)
def project_detail(request, slug: str, project_id):
    return _project_page(request, slug, project_id)


def _project_page(request, slug: str, project_id, *, policy_form=None, exam_form=None, status: int = 200):
    lab, project = console_project(request.user, slug, project_id)
    progress = progress_summary(project_progress(project=project))
    spend = lab_spend(lab=lab)
    mine = next((row for row in spend["projects"] if row["project"] == str(project.pk)), None)
    exams = Exam.objects.filter(project=project).annotate(
        n_attempts=Count("attempts"),
        n_finished=Count("attempts", filter=Q(attempts__finished_at__isnull=False)),
    )
    context = {
        **lab_context(request.user, lab),
        "project": project,
        "progress": progress,
        "charts": progress_charts(project=project, progress=progress),
        "batches": Batch.objects.filter(project=project).order_by("-created_at")[:10],
        "exports": export_links(slug=lab.slug, project=project),
        "budget": {
            "remaining": format_tokens(int(spend["remaining"])),
            "committed": format_tokens(int(spend["committed"])),
            "credited": format_tokens(int(spend["credited"])),
            "spent": format_tokens(int(mine["spent"])) if mine else "0",
            "rewarded_labels": mine["rewarded_labels"] if mine else 0,
        },
        "policies": _policies(project),
        "policy_form": policy_form or RewardPolicyForm(),
        "exams": exams,
        "exam_form": exam_form or ExamForm(),
        "gold_items": project.items.filter(is_gold=True).count(),
    }
    return render(request, "lab/project.html", context, status=status)


@action_required(A.LAB_CONSOLE_VIEW)
def project_quality(request, slug: str, project_id):
    """The lab API's quality report (``GET projects/{id}/quality``) as a page."""
    lab, project = console_project(request.user, slug, project_id)
    try:
        offset = max(0, int(request.GET.get("offset", 0)))
    except ValueError:
        offset = 0
    report = project_report(project=project, n_boot=QUALITY_BOOTSTRAP, limit=QUALITY_PAGE, offset=offset)
    low = report["low_agreement_items"]
    context = {
        **lab_context(request.user, lab),
        "project": project,
        "report": report,
        "charts": quality_charts(project=project),
        "next_offset": offset + QUALITY_PAGE if offset + QUALITY_PAGE < low["count"] else None,
        "previous_offset": max(offset - QUALITY_PAGE, 0) if offset else None,
    }
    return render(request, "lab/quality.html", context)


@never_cache
@action_required(A.LAB_CONSOLE_VIEW)
def project_export(request, slug: str, project_id):
    """A download with the lab API's parameters and checks (``ProjectExportApi``); a bad
    parameter is a 400 naming it."""
    lab, project = console_project(request.user, slug, project_id)
    data = ProjectExportApi.FilterSerializer(data=request.GET.dict())
    if not data.is_valid():
        lines = [f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in data.errors.items()]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    values = data.validated_data
    batch = None
    if "batch" in values:
        batch = Batch.objects.filter(project=project, pk=values["batch"]).first()
        if batch is None:
            return HttpResponse("batch: not a batch of this project.", status=404, content_type="text/plain")
    filters = export_filters(values, project=project, batch=batch)
    export_format, file_format = values["format"], values["file_format"]
    if file_format == "parquet":
        try:
            handle = export_parquet(project=project, export_format=export_format, filters=filters)
        except ApplicationError as exc:
            return HttpResponse(exc.message, status=exc.status_code, content_type="text/plain; charset=utf-8")
        blocks = export_parquet_blocks(handle)
    else:
        blocks = export_lines(project=project, export_format=export_format, filters=filters)
    body = _async_blocks(blocks) if isinstance(request, ASGIRequest) else blocks
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[file_format])
    filename = export_filename(
        project=project, export_format=export_format, now=timezone.now(), file_format=file_format
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_POST
@action_required(A.LAB_SETTINGS_MANAGE)
def reward_policy_new(request, slug: str, project_id):
    """An owner adds a reward policy version (``reward_policy_create``, as the API does); a
    refusal is shown on the project's page next to the field it names."""
    console_lab(request.user, slug, owner_only=True)
    lab, project = console_project(request.user, slug, project_id)
    form = RewardPolicyForm(request.POST)
    if form.is_valid():
        try:
            policy = reward_policy_create(project=project, actor=request.user, **form.service_values())
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, f"Reward policy version {policy.version} added.")
            return redirect(
                reverse("lab-project", kwargs={"slug": lab.slug, "project_id": project.pk}) + "#budget"
            )
    return _project_page(request, slug, project_id, policy_form=form, status=400)


@require_POST
@action_required(A.LAB_PROJECTS_MANAGE)
def exam_new(request, slug: str, project_id):
    """A member makes the project's exam from its gold items (``exam_create``, as the API
    does); a refusal (no gold items, too many questions asked) is shown next to its field."""
    lab, project = console_project(request.user, slug, project_id)
    form = ExamForm(request.POST)
    if form.is_valid():
        try:
            exam = exam_create(project=project, actor=request.user, **form.service_values())
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            questions = exam.questions.count()
            messages.success(
                request, f"Exam {exam.name!r} made with {questions} questions; it is the active one."
            )
            return redirect(
                reverse("lab-project", kwargs={"slug": lab.slug, "project_id": project.pk}) + "#exams"
            )
    return _project_page(request, slug, project_id, exam_form=form, status=400)
