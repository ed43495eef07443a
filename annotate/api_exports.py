"""REST endpoint for labs: a project's export as streamed JSON Lines or Parquet (see annotate/exports)."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer

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
from annotate.selectors import access_batch_for_lab, access_project_for_lab, projects_for_lab
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.serializers import InputSerializer

# Two rows of format=dpo in the standard form (TRL's prompt, chosen, rejected).
DPO_EXAMPLE = (
    '{"prompt": "Is a QTc of 520 ms a reason to stop sotalol?", "chosen": "Yes: above 500 ms, stop or '
    'reduce it.", "rejected": "No: only above 600 ms."}\n'
    '{"prompt": "Which beta-blocker after a myocardial infarction?", "chosen": "Metoprolol succinate '
    'or bisoprolol, titrated.", "rejected": "Any beta-blocker works equally well."}\n'
)


class ExportContentNegotiation(BaseContentNegotiation):
    """``?format=`` names the export format here, not one of DRF's renderers (DRF would
    otherwise answer 404 for a format it has no renderer for). Errors are rendered as JSON;
    the export itself is a streamed response that needs no renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _stream(request, blocks: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """Under ASGI an async iterator, under WSGI the blocks themselves.

    Django's ASGI handler would turn a synchronous iterator into a list before sending it (and
    the WSGI one an asynchronous iterator), which is the whole export in memory. Each block is
    produced by ``sync_to_async(thread_sensitive=True)``: the thread of the view, whose
    database connection holds the open cursor.
    """
    if not isinstance(request._request, ASGIRequest):
        return blocks
    return _async_blocks(blocks)


async def _async_blocks(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (block := await step(blocks, None)) is not None:
            yield block
    finally:
        # A client that hangs up leaves the generator (and its cursor) open: close it in the
        # thread that owns the connection.
        close = getattr(blocks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


# "+00:00" in a query string arrives as " 00:00" when the client did not encode the "+".
_UNENCODED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")
# Parameters that only the training formats take.
_TRAINING_ONLY = ("form", "include", "include_unfinished")
INCLUDE_VALUES = ("metadata",)


class ProjectExportApi(LabAPIView):
    """Download the project's labels (``raw``), consensus (``consensus``), or training data in
    TRL's formats (``dpo``, ``reward``, ``ranking``) as JSON Lines (streamed) or Parquet.
    Filters: ``batch``, ``since``, ``min_confidence``, ``include_gold``; training formats also
    ``form``, ``include=metadata`` and ``include_unfinished``. Unknown parameters and bad
    values give 400 naming the parameter, before anything is sent."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = ExportContentNegotiation

    class FilterSerializer(InputSerializer):
        format = serializers.ChoiceField(choices=EXPORT_FORMATS)
        file_format = serializers.ChoiceField(choices=FILE_FORMATS, required=False, default="jsonl")
        batch = serializers.UUIDField(required=False)
        since = serializers.DateTimeField(required=False)
        min_confidence = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
        include_gold = serializers.BooleanField(required=False, default=False)
        form = serializers.ChoiceField(choices=FORMS, required=False)
        include = serializers.CharField(required=False)
        include_unfinished = serializers.BooleanField(required=False, default=False)

        def validate_min_confidence(self, value: float) -> float:
            if not math.isfinite(value):
                raise serializers.ValidationError("min_confidence is a number from 0 to 1.")
            return value

        def validate_include(self, value: str) -> set[str]:
            names = {name.strip() for name in value.split(",") if name.strip()}
            unknown = sorted(names - set(INCLUDE_VALUES))
            if unknown or not names:
                raise serializers.ValidationError(
                    f"include takes a comma-separated list of {list(INCLUDE_VALUES)}; got {value!r}."
                )
            return names

        def validate(self, attrs):
            if attrs["format"] not in TRAINING_FORMATS:
                misplaced = [name for name in _TRAINING_ONLY if name in self.initial_data]
                if misplaced:
                    raise serializers.ValidationError(
                        {
                            name: serializers.ErrorDetail(
                                f"{name} applies only to the formats {list(TRAINING_FORMATS)}.",
                                code="not_applicable",
                            )
                            for name in misplaced
                        }
                    )
            return attrs

    def safely_get_queryset(self, lab):
        return projects_for_lab(lab=lab)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), required=True),
            OpenApiParameter(
                "file_format",
                str,
                enum=list(FILE_FORMATS),
                description="jsonl (default, streamed) or parquet (written first; "
                "EXPORT_PARQUET_MAX_BYTES, 413 export_too_large above)",
            ),
            OpenApiParameter("batch", OpenApiTypes.UUID, description="only this batch of the project"),
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="raw: labels created at or after; other formats: items finalized or "
                "whose consensus was computed at or after",
            ),
            OpenApiParameter(
                "min_confidence", float, description="0 to 1; every format but raw: consensus at least this"
            ),
            OpenApiParameter("include_gold", bool, description="every format but raw: gold items too"),
            OpenApiParameter(
                "form",
                str,
                enum=list(FORMS),
                description="dpo, reward, ranking: standard (strings) or conversational (message "
                "lists); default the project's export_form",
            ),
            OpenApiParameter(
                "include",
                str,
                enum=list(INCLUDE_VALUES),
                description="dpo, reward, ranking: metadata adds the item's ids, the response ids, "
                "confidence, agreement and method after TRL's columns",
            ),
            OpenApiParameter(
                "include_unfinished",
                bool,
                description="dpo, reward, ranking: also items that have a consensus but are not final",
            ),
        ],
        responses={
            (200, CONTENT_TYPES["jsonl"]): OpenApiResponse(
                OpenApiTypes.STR,
                description="JSON Lines, one object per line.",
                examples=[
                    OpenApiExample(
                        "format=dpo",
                        value=DPO_EXAMPLE,
                        media_type=CONTENT_TYPES["jsonl"],
                        response_only=True,
                        status_codes=["200"],
                    )
                ],
            ),
            (200, CONTENT_TYPES["parquet"]): OpenApiResponse(
                OpenApiTypes.BINARY, description="One Parquet file."
            ),
        },
    )
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        params = request.query_params.dict()
        if "since" in params:
            params["since"] = _UNENCODED_OFFSET.sub(r"+\1", params["since"].strip())
        data = self.FilterSerializer(data=params)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        batch = None
        if "batch" in values:
            try:
                batch = access_batch_for_lab(lab=self.lab, batch_id=values["batch"])
            except ApplicationError:
                batch = None
            if batch is None or batch.project_id != project.pk:
                raise ApplicationError("Batch not found.", code="not_found", field="batch", status_code=404)
        filters = export_filters(values, project=project, batch=batch)
        export_format, file_format = values["format"], values["file_format"]
        if file_format == "parquet":
            handle = export_parquet(project=project, export_format=export_format, filters=filters)
            blocks = export_parquet_blocks(handle)
        else:
            blocks = export_lines(project=project, export_format=export_format, filters=filters)
        response = StreamingHttpResponse(_stream(request, blocks), content_type=CONTENT_TYPES[file_format])
        filename = export_filename(
            project=project, export_format=export_format, now=timezone.now(), file_format=file_format
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
