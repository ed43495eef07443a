"""REST endpoints for batches: upload, list, detail with progress."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotate.ingest.limits import limits_text
from annotate.ingest.services import batch_ingest, batch_inline_limit, batch_lines_processed, batch_receive
from annotate.models import Batch
from annotate.progress import batch_progress
from annotate.selectors import access_batch_for_lab, access_project_for_lab
from annotate.tasks import batch_ingest_task
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView


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
    items_created = serializers.IntegerField()
    items_skipped = serializers.IntegerField()
    error_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_lines_processed(self, batch) -> int:
        return batch_lines_processed(batch=batch)


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
        description=UPLOAD_DESCRIPTION,
        request={"application/json": OpenApiTypes.OBJECT, "application/x-ndjson": OpenApiTypes.STR},
        parameters=[
            OpenApiParameter("on_duplicate", str, enum=["error", "skip"], description="default error"),
            OpenApiParameter("priority", int, description="higher is served first; default 0"),
            OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER),
        ],
        responses={201: BatchDetailOutputSerializer, 202: BatchDetailOutputSerializer},
    )
    def post(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        try:
            priority = int(request.query_params.get("priority", 0))
        except ValueError:
            raise ApplicationError("priority is an integer.", code="invalid", field="priority") from None
        if not -1000 <= priority <= 1000:
            raise ApplicationError("priority is from -1000 to 1000.", code="invalid", field="priority")
        length = request.META.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > settings.BATCH_MAX_BYTES:
            raise ApplicationError(
                f"The body is larger than {settings.BATCH_MAX_BYTES:,} bytes; split it into batches.",
                code="too_large",
                status_code=413,
            )
        received = batch_receive(
            project=project,
            stream=request._request,
            content_type=request.content_type,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            on_duplicate=request.query_params.get("on_duplicate", Batch.OnDuplicate.ERROR),
            priority=priority,
            api_key=self.api_key,
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
