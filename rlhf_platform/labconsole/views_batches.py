"""Console pages of batches: upload a file through the ingest service the API uses, watch a
batch's progress (bytes and items), read its line errors, cancel it."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from annotate.batches import batch_cancel
from annotate.ingest.progress import batch_bytes_processed, batch_lines_processed
from annotate.ingest.services import batch_ingest, batch_inline_limit, batch_receive
from annotate.models import Batch
from annotate.progress import batch_progress
from annotate.tasks import batch_ingest_task
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error
from rlhf_platform.labconsole.access import console_batch, console_project, lab_context
from rlhf_platform.labconsole.forms import UploadForm, UploadOptionsForm

RECENT_BATCHES = 20
RAW_UPLOAD_HEADER = "X-Console-Upload"  # the upload script sends the file itself as the body


def _start(received) -> Batch:
    """As the API does: a small body is ingested in the request, a larger one by a worker."""
    batch = received.batch
    if not received.replayed and batch.status == Batch.Status.QUEUED:
        if batch.size_bytes <= batch_inline_limit():
            return batch_ingest(batch_id=batch.pk)
        batch_id = str(batch.pk)
        transaction.on_commit(lambda: batch_ingest_task.delay(batch_id))
    return batch


def _file_content_type(name: str) -> str:
    return "application/json" if name.lower().endswith(".json") else "application/x-ndjson"


def _upload_raw(request, project):
    """The script's upload: the file as the body, the options in the query string."""
    form = UploadOptionsForm(request.GET)
    if not form.is_valid():
        errors = [{"field": f, "message": " ".join(m)} for f, m in form.errors.items()]
        return JsonResponse({"errors": errors}, status=400)
    try:
        received = batch_receive(
            project=project,
            stream=request,
            content_type=request.content_type,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip()[:200],
            on_duplicate=form.cleaned_data["on_duplicate"],
            priority=form.cleaned_data["priority"],
            actor=request.user,
            bytes_expected=int(request.META.get("CONTENT_LENGTH") or 0) or None,
        )
    except ApplicationError as exc:
        return JsonResponse(
            {"errors": [{"field": exc.field, "message": exc.message}]}, status=exc.status_code
        )
    batch = _start(received)
    url = reverse(
        "lab-batch", kwargs={"slug": project.lab.slug, "project_id": project.pk, "batch_id": batch.pk}
    )
    return JsonResponse({"batch": str(batch.pk), "status": batch.status, "location": url})


@never_cache
@action_required(A.LAB_CONSOLE_VIEW, post=A.LAB_PROJECTS_MANAGE)
def batch_upload(request, slug: str, project_id):
    lab, project = console_project(request.user, slug, project_id)
    if request.method == "POST" and request.headers.get(RAW_UPLOAD_HEADER):
        return _upload_raw(request, project)
    form = UploadForm()
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                received = batch_receive(
                    project=project,
                    stream=upload,
                    content_type=_file_content_type(upload.name),
                    idempotency_key=request.POST.get("idempotency_key", "")[:200],
                    on_duplicate=form.cleaned_data["on_duplicate"],
                    priority=form.cleaned_data["priority"],
                    actor=request.user,
                    bytes_expected=upload.size,
                )
            except ApplicationError as exc:
                form_add_service_error(form, exc)
            else:
                batch = _start(received)
                return redirect("lab-batch", slug=lab.slug, project_id=project.pk, batch_id=batch.pk)
    context = {
        **lab_context(request.user, lab),
        "project": project,
        "form": form,
        "idempotency_key": uuid.uuid4(),
        "batches": Batch.objects.filter(project=project).order_by("-created_at")[:RECENT_BATCHES],
        "inline_limit": batch_inline_limit(),
    }
    return render(request, "lab/upload.html", context, status=status)


def _batch_context(batch: Batch) -> dict:
    size = batch.size_bytes or 0
    done_bytes = batch_bytes_processed(batch=batch)
    lines = batch_lines_processed(batch=batch)
    return {
        "batch": batch,
        "bytes_done": done_bytes,
        "bytes_percent": round(100 * done_bytes / size) if size else 0,
        "lines_done": lines,
        "lines_percent": round(100 * lines / batch.lines_total) if batch.lines_total else 0,
        "finished": batch.status in (Batch.Status.INGESTED, Batch.Status.FAILED),
        "progress": batch_progress(batch=batch) if batch.status == Batch.Status.INGESTED else None,
    }


@never_cache
@action_required(A.LAB_CONSOLE_VIEW)
def batch_detail(request, slug: str, project_id, batch_id):
    lab, project, batch = console_batch(request.user, slug, project_id, batch_id)
    context = {**lab_context(request.user, lab), "project": project, **_batch_context(batch)}
    return render(request, "lab/batch.html", context)


@never_cache
@action_required(A.LAB_CONSOLE_VIEW)
def batch_status(request, slug: str, project_id, batch_id):
    """The batch page's progress section alone, which its script polls until the batch is done."""
    lab, project, batch = console_batch(request.user, slug, project_id, batch_id)
    context = {"lab": lab, "project": project, **_batch_context(batch)}
    return render(request, "lab/_batch_status.html", context)


@require_POST
@action_required(A.LAB_PROJECTS_MANAGE)
def batch_cancel_page(request, slug: str, project_id, batch_id):
    lab, project, batch = console_batch(request.user, slug, project_id, batch_id)
    try:
        result = batch_cancel(batch=batch, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Batch cancelled: {result.items_cancelled} items left the queue, {result.items_kept} kept.",
        )
    return redirect("lab-batch", slug=lab.slug, project_id=project.pk, batch_id=batch.pk)
