"""REST endpoints for batches: upload, list, detail with progress."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotate.batches import batch_cancel
from annotate.ingest.dry_run import batch_dry_run
from annotate.ingest.limits import limits_text
from annotate.ingest.progress import batch_bytes_processed, batch_lines_processed, batch_receipt_progress
from annotate.ingest.services import batch_ingest, batch_inline_limit, batch_receive
from annotate.models import Batch
from annotate.openapi import UPLOAD_REQUEST
from annotate.progress import batch_progress
from annotate.selectors import access_batch_for_lab, access_project_for_lab
from annotate.tasks import batch_ingest_task
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.openapi_errors import error_responses
from rlhf_platform.core.serializers import InputSerializer


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project = serializers.UUIDField(source="project_id")
    status = serializers.CharField(help_text="queued, ingesting, ingested or failed.")
    content_type = serializers.CharField()
    on_duplicate = serializers.CharField()
    priority = serializers.IntegerField()
    idempotency_key = serializers.CharField()
    size_bytes = serializers.IntegerField()
    lines_total = serializers.IntegerField(allow_null=True)
    lines_processed = serializers.SerializerMethodField()
    bytes_total = serializers.IntegerField(
        source="size_bytes", help_text="The body's size (its Content-Length), known from receipt on."
    )
    bytes_processed = serializers.SerializerMethodField(
        help_text="Bytes of the body the ingest has read: 0 while queued, rising while ingesting (updated "
        "every 5,000 lines), bytes_total once ingested or failed. With bytes_total, the share done "
        "before lines_total is known."
    )
    items_created = serializers.IntegerField()
    items_skipped = serializers.IntegerField()
    error_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(
        allow_null=True, help_text="When the lab cancelled the batch (POST .../cancel); null if it did not."
    )

    def get_lines_processed(self, batch) -> int:
        return batch_lines_processed(batch=batch)

    def get_bytes_processed(self, batch) -> int:
        return batch_bytes_processed(batch=batch)


class BatchDetailOutputSerializer(BatchOutputSerializer):
    errors = serializers.JSONField(help_text="The first 1,000 line errors: {line, field, code, message}.")
    progress = serializers.SerializerMethodField()

    def get_progress(self, batch) -> dict:
        return batch_progress(batch=batch)


def _batch_response(batch: Batch, *, replayed: bool) -> Response:
    body = BatchDetailOutputSerializer(batch).data
    headers = {"Location": f"/api/v1/batches/{batch.pk}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if batch.status == Batch.Status.FAILED:
        return Response({"errors": batch.errors, "batch": body}, status=400, headers=headers)
    status = 201 if batch.status == Batch.Status.INGESTED else 202
    return Response(body, status=status, headers=headers)


UPLOAD_DESCRIPTION = (
    "The body is `application/json` (an array of items) or `application/x-ndjson` (one item per "
    "line), read as a stream and validated line by line as it arrives. All or nothing: a body "
    "with any invalid line is answered 400 with `{line, field, code, message}` errors and the "
    "failed batch, and nothing is written. A valid body is ingested in the request when small "
    "(201), otherwise by a worker (202, follow `Location`), which can still fail it on what "
    "needs the project's items (an `external_id` it already holds). An `Idempotency-Key` header "
    "makes a retry return the first result.\n\n" + limits_text()
)


class UploadQuerySerializer(InputSerializer):
    """The upload's query parameters; any other is refused with 400 naming it."""

    on_duplicate = serializers.ChoiceField(
        choices=Batch.OnDuplicate.values, required=False, default=Batch.OnDuplicate.ERROR
    )
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False, default=0)
    dry_run = serializers.BooleanField(required=False, default=False)


class DryRunOutputSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(help_text="Always true: nothing was written.")
    valid = serializers.BooleanField(help_text="Whether the upload would be accepted.")
    lines = serializers.IntegerField(help_text="Records read (lines of JSON Lines, elements of the array).")
    items = serializers.IntegerField(help_text="Items the upload would create (0 when it would be refused).")
    skipped = serializers.IntegerField(help_text="Duplicates it would skip (on_duplicate=skip).")
    size_bytes = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = serializers.ListField(
        child=serializers.DictField(),
        help_text="The first 1,000 line errors, by line: {line, field, code, message}.",
    )


DRY_RUN_EXAMPLE = {
    "dry_run": True,
    "valid": False,
    "lines": 3,
    "items": 0,
    "skipped": 0,
    "size_bytes": 412,
    "error_count": 1,
    "errors": [
        {"line": 2, "field": "responses", "code": "invalid", "message": "Expected at least 2 responses."}
    ],
}


class BatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Batch.Status.choices)

    class Meta:
        model = Batch
        fields = ["status"]


class ProjectBatchListApi(LabAPIView):
    """Upload a batch of items (POST) or list the project's batches (GET)."""

    serializer_class = BatchOutputSerializer
    filterset_class = BatchFilter
    parser_classes: list = []  # the body is read as a stream by the service, not parsed here

    def safely_get_queryset(self, lab):
        return Batch.objects.filter(project__lab=lab)

    @extend_schema(responses={200: BatchOutputSerializer(many=True)})
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        queryset = self.filter_queryset(self.get_queryset().filter(project=project))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(BatchOutputSerializer(page, many=True).data)

    @extend_schema(
        description=UPLOAD_DESCRIPTION
        + "\n\n`dry_run=1` (or `true`) validates the body exactly so, and checks its `external_id` "
        "values against the project's items, without writing anything (no batch, no item): it "
        "answers 200 with the count of items the upload would create and its line errors. The "
        "`Idempotency-Key` is not consulted by a dry run.",
        request=UPLOAD_REQUEST,
        parameters=[
            OpenApiParameter("on_duplicate", str, enum=["error", "skip"], description="default error"),
            OpenApiParameter("priority", int, description="-1000 to 1000, higher is served first; default 0"),
            OpenApiParameter(
                "dry_run", bool, description="validate only, write nothing (200 with a DryRun report)"
            ),
            OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER),
        ],
        responses={
            200: OpenApiResponse(DryRunOutputSerializer, description="dry_run: the validation report."),
            201: BatchDetailOutputSerializer,
            202: BatchDetailOutputSerializer,
            **error_responses(
                {
                    400: "A bad line (the body also carries the failed batch), or a bad query parameter.",
                    401: "No valid API key.",
                    403: "The key lacks the write scope.",
                    404: "No such project of this lab.",
                    409: "The project is archived.",
                    413: "The body is larger than BATCH_MAX_BYTES.",
                    415: "Neither JSON nor JSON Lines.",
                    422: "The Idempotency-Key was used for a different body.",
                }
            ),
        },
        examples=[OpenApiExample("dry run", value=DRY_RUN_EXAMPLE, response_only=True, status_codes=["200"])],
    )
    def post(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        query = UploadQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        length = request.META.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > settings.BATCH_MAX_BYTES:
            raise ApplicationError(
                f"The body is larger than {settings.BATCH_MAX_BYTES:,} bytes; split it into batches.",
                code="too_large",
                status_code=413,
            )
        if params["dry_run"]:
            report = batch_dry_run(
                project=project,
                stream=request._request,
                content_type=request.content_type,
                on_duplicate=params["on_duplicate"],
            )
            return Response(
                DryRunOutputSerializer({"dry_run": True, "valid": report.valid, **vars(report)}).data
            )
        received = batch_receive(
            project=project,
            stream=request._request,
            content_type=request.content_type,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            on_duplicate=params["on_duplicate"],
            priority=params["priority"],
            api_key=self.api_key,
            bytes_expected=int(length) if length and length.isdigit() else None,
        )
        batch = received.batch
        if not received.replayed and batch.status == Batch.Status.QUEUED:  # not refused at receipt
            if batch.size_bytes <= batch_inline_limit():
                batch = batch_ingest(batch_id=batch.pk)
            else:
                batch_id = str(batch.pk)
                transaction.on_commit(lambda: batch_ingest_task.delay(batch_id))
        return _batch_response(batch, replayed=received.replayed)


class BatchDetailApi(LabAPIView):
    serializer_class = BatchDetailOutputSerializer

    def safely_get_queryset(self, lab):
        return Batch.objects.filter(project__lab=lab)

    @extend_schema(responses={200: BatchDetailOutputSerializer})
    def get(self, request, batch_id):
        batch = access_batch_for_lab(lab=self.lab, batch_id=batch_id)
        return Response(BatchDetailOutputSerializer(batch).data)


class BatchCancelOutputSerializer(serializers.Serializer):
    batch = serializers.UUIDField(source="batch.pk")
    cancelled_at = serializers.DateTimeField()
    items_cancelled = serializers.IntegerField(
        help_text="Items of the batch that left the queue (no label and no live lease when it was cancelled)."
    )
    items_kept = serializers.IntegerField(
        help_text="Items that had a label or a live lease: they go on to their consensus."
    )
    newly_cancelled = serializers.IntegerField(help_text="Cancelled by this request: 0 when repeated.")


class BatchCancelApi(LabAPIView):
    """Cancel a batch: its items nobody has started (no label, no live lease) leave the queue
    (state ``cancelled``, never offered again); items with a label or a live lease are kept and
    go on to their consensus; its gold items leave the gold pool. Idempotent: a repeat answers
    the same with ``newly_cancelled`` 0. No body, no query parameters."""

    serializer_class = BatchCancelOutputSerializer

    def safely_get_queryset(self, lab):
        return Batch.objects.filter(project__lab=lab)

    @extend_schema(
        request=None,
        responses={
            200: BatchCancelOutputSerializer,
            **error_responses(
                {
                    400: "A query parameter (none is taken).",
                    401: "No valid API key.",
                    403: "The key lacks the write scope.",
                    404: "No such batch of this lab.",
                    409: "The batch is still queued or ingesting.",
                }
            ),
        },
        examples=[
            OpenApiExample(
                "cancelled",
                value={
                    "batch": "0b7e8d4a-2a5e-4bd7-a0f4-5b2c6c3d9e11",
                    "cancelled_at": "2026-01-05T12:00:00Z",
                    "items_cancelled": 1890,
                    "items_kept": 157,
                    "newly_cancelled": 1890,
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def post(self, request, batch_id):
        batch = access_batch_for_lab(lab=self.lab, batch_id=batch_id)
        if request.query_params:
            name = sorted(request.query_params)[0]
            raise ApplicationError("Unknown query parameter.", code="unknown_field", field=name)
        return Response(BatchCancelOutputSerializer(batch_cancel(batch=batch, actor=self.api_key)).data)


class UploadProgressOutputSerializer(serializers.Serializer):
    state = serializers.CharField(
        help_text="receiving while the body streams in; then the batch's status (queued, ingesting, "
        "ingested, failed)."
    )
    batch = serializers.UUIDField()
    bytes_received = serializers.IntegerField()
    bytes_total = serializers.IntegerField(
        allow_null=True, help_text="The upload's Content-Length; null when the request sent none."
    )


class UploadProgressApi(LabAPIView):
    """An upload by its ``Idempotency-Key``, from its first byte on: while the body streams in,
    the bytes received and the total (the Content-Length); once received, the batch (follow
    ``GET batches/{batch}`` for the ingest's progress). 404 when no upload has that key."""

    serializer_class = UploadProgressOutputSerializer

    def safely_get_queryset(self, lab):
        return Batch.objects.filter(project__lab=lab)

    @extend_schema(
        responses={
            200: UploadProgressOutputSerializer,
            **error_responses(
                {
                    400: "A query parameter (none is taken).",
                    401: "No valid API key.",
                    403: "The key lacks the read scope.",
                    404: "No such project of this lab, or no upload with this Idempotency-Key.",
                }
            ),
        },
        examples=[
            OpenApiExample(
                "receiving",
                value={
                    "state": "receiving",
                    "batch": "0b7e8d4a-2a5e-4bd7-a0f4-5b2c6c3d9e11",
                    "bytes_received": 268435456,
                    "bytes_total": 734003200,
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request, project_id, idempotency_key):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        if request.query_params:
            name = sorted(request.query_params)[0]
            raise ApplicationError("Unknown query parameter.", code="unknown_field", field=name)
        receiving = batch_receipt_progress(project=project, idempotency_key=idempotency_key)
        if receiving is not None:
            return Response(UploadProgressOutputSerializer({"state": "receiving", **receiving}).data)
        batch = Batch.objects.filter(project=project, idempotency_key=idempotency_key).first()
        if batch is None:
            raise ApplicationError("No upload with this Idempotency-Key.", code="not_found", status_code=404)
        done = {
            "state": batch.status,
            "batch": batch.pk,
            "bytes_received": batch.size_bytes,
            "bytes_total": batch.size_bytes,
        }
        return Response(UploadProgressOutputSerializer(done).data)
