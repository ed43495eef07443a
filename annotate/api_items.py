"""REST endpoints for labs: a project's items (list with filters, one by ``external_id``) and
the cancel of a batch."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response

from annotate.models import Item
from annotate.selectors import access_project_for_lab, items_for_project, projects_for_lab
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.openapi_errors import error_responses
from rlhf_platform.core.pagination import CreatedCursorPagination
from rlhf_platform.core.serializers import InputSerializer


class ItemCursorPagination(CreatedCursorPagination):
    """Items in upload order: the items of one batch share their creation time, so the cursor
    follows the item's row order, which is unique."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 500


class ItemConsensusOutputSerializer(serializers.Serializer):
    method = serializers.CharField()
    choice = serializers.CharField(help_text="Pairwise: A, B, tie or both_bad (A, B: responses 0 and 1).")
    strength = serializers.FloatField(allow_null=True)
    ranking = serializers.JSONField(
        allow_null=True, help_text="Ranking: groups of tied response ids, best first."
    )
    confidence = serializers.FloatField()
    agreement = serializers.FloatField(allow_null=True)
    label_count = serializers.IntegerField()
    computed_at = serializers.DateTimeField()


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    external_id = serializers.CharField()
    batch = serializers.UUIDField(source="batch_id")
    state = serializers.ChoiceField(
        choices=Item.State.values,
        help_text="open (collecting labels), labelled (consensus pending), final, adjudication, "
        "cancelled (its batch was cancelled before anyone started it).",
    )
    is_gold = serializers.BooleanField()
    prompt = serializers.JSONField(help_text="A string, or a list of {role, content} messages.")
    responses = serializers.JSONField(help_text="[{id, text, model}, ...]")
    metadata = serializers.JSONField()
    priority = serializers.IntegerField()
    labels = serializers.IntegerField(
        source="label_count", help_text="Labels submitted (gold audits included)."
    )
    created_at = serializers.DateTimeField()
    finalized_at = serializers.DateTimeField(allow_null=True)
    consensus = serializers.SerializerMethodField(
        help_text="The consensus once the item is final; else null."
    )

    @extend_schema_field(ItemConsensusOutputSerializer(allow_null=True))
    def get_consensus(self, item) -> dict | None:
        if item.state != Item.State.FINAL:
            return None
        consensus = getattr(item, "consensus", None)
        return None if consensus is None else ItemConsensusOutputSerializer(consensus).data


ITEM_EXAMPLE = {
    "id": "6f1c2f0e-7d52-4a53-9a43-3f6f0c1b2a10",
    "external_id": "cardio-0001",
    "batch": "0b7e8d4a-2a5e-4bd7-a0f4-5b2c6c3d9e11",
    "state": "final",
    "is_gold": False,
    "prompt": "Which first-line treatment fits a 54-year-old with stage 1 hypertension?",
    "responses": [
        {"id": "r0", "text": "Lifestyle changes first, then ...", "model": "model-a"},
        {"id": "r1", "text": "Start two drugs at once ...", "model": "model-b"},
    ],
    "metadata": {"source": "clinic-notes"},
    "priority": 0,
    "labels": 3,
    "created_at": "2026-01-05T10:00:00Z",
    "finalized_at": "2026-01-05T12:40:00Z",
    "consensus": {
        "method": "dawid_skene",
        "choice": "A",
        "strength": 2.3,
        "ranking": None,
        "confidence": 0.93,
        "agreement": 0.67,
        "label_count": 3,
        "computed_at": "2026-01-05T12:40:00Z",
    },
}


class ItemListQuerySerializer(InputSerializer):
    state = serializers.ChoiceField(choices=Item.State.values, required=False)
    batch = serializers.UUIDField(required=False)
    external_id = serializers.CharField(required=False, max_length=200)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


_ERRORS = error_responses(
    {
        400: "An unknown query parameter or a bad value, named in `field`.",
        401: "No valid API key.",
        403: "The key lacks the read scope.",
        404: "No such project (or item, or batch) of this lab.",
    }
)


class ProjectItemListApi(LabAPIView):
    """The project's items, in upload order (cursor-paginated like every list of the API), with
    their state, label count and, once final, their consensus. Filters: ``state``, ``batch``
    (a batch id), ``external_id``. Unknown parameters are refused with 400 naming them."""

    serializer_class = ItemOutputSerializer
    pagination_class = ItemCursorPagination
    filter_backends: list = []

    def safely_get_queryset(self, lab):
        return Item.objects.filter(project__in=projects_for_lab(lab=lab)) if lab is not None else Item.objects

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=Item.State.values),
            OpenApiParameter("batch", OpenApiTypes.UUID, description="only the items of this batch"),
            OpenApiParameter(
                "external_id", str, description="the item with this external_id (0 or 1 result)"
            ),
            OpenApiParameter("page_size", int, description="1 to 500, default 50"),
        ],
        responses={200: ItemOutputSerializer(many=True), **_ERRORS},
        examples=[
            OpenApiExample("a final item", value=ITEM_EXAMPLE, response_only=True, status_codes=["200"])
        ],
    )
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        query = ItemListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        items = items_for_project(project=project)
        if "state" in params:
            items = items.filter(state=params["state"])
        if "batch" in params:
            if not project.batches.filter(pk=params["batch"]).exists():
                raise ApplicationError("Batch not found.", code="not_found", field="batch", status_code=404)
            items = items.filter(batch_id=params["batch"])
        if "external_id" in params:
            items = items.filter(external_id=params["external_id"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ItemOutputSerializer(page, many=True).data)


class ProjectItemByExternalIdApi(LabAPIView):
    """One item of the project by the ``external_id`` the lab gave it (URL-encoded)."""

    serializer_class = ItemOutputSerializer

    def safely_get_queryset(self, lab):
        return Item.objects.filter(project__in=projects_for_lab(lab=lab)) if lab is not None else Item.objects

    @extend_schema(
        responses={200: ItemOutputSerializer, **_ERRORS},
        examples=[
            OpenApiExample("a final item", value=ITEM_EXAMPLE, response_only=True, status_codes=["200"])
        ],
    )
    def get(self, request, project_id, external_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        if request.query_params:
            name = sorted(request.query_params)[0]
            raise ApplicationError("Unknown query parameter.", code="unknown_field", field=name)
        item = items_for_project(project=project).filter(external_id=external_id).first()
        if item is None:
            raise ApplicationError("Item not found.", code="not_found", status_code=404)
        return Response(ItemOutputSerializer(item).data)
