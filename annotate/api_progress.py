"""REST endpoint for labs: a project's progress (a batch's is part of the batch detail)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotate.models import Item
from annotate.progress import project_progress
from annotate.selectors import access_project_for_lab, projects_for_lab
from rlhf_platform.core.lab_api import LabAPIView


class _ItemCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    ordinary = serializers.IntegerField()
    gold = serializers.IntegerField()
    by_state = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"Ordinary items per state, every state present: {', '.join(Item.State.values)}.",
    )


class _LabelCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    ordinary = serializers.IntegerField()
    gold = serializers.IntegerField()


class _SlotCountsSerializer(serializers.Serializer):
    filled = serializers.IntegerField()
    total = serializers.IntegerField(help_text="k per ordinary item, plus slots added by adaptive overlap.")


class _ThroughputSerializer(serializers.Serializer):
    window_seconds = serializers.IntegerField()
    labels = serializers.IntegerField(help_text="Labels submitted in the window, gold included.")
    ordinary_labels = serializers.IntegerField()


class ProgressOutputSerializer(serializers.Serializer):
    items = _ItemCountsSerializer()
    labels = _LabelCountsSerializer()
    slots = _SlotCountsSerializer()
    throughput = _ThroughputSerializer()
    eta_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Unfilled slots at last hour's rate of ordinary labels; 0 when none remain, "
        "null when that rate is 0.",
    )
    agreement = serializers.FloatField(allow_null=True, help_text="null until the quality step computes it.")
    as_of = serializers.DateTimeField()


class ProjectProgressApi(LabAPIView):
    """Where the project's items are, labels collected, last hour's throughput and an ETA."""

    serializer_class = ProgressOutputSerializer

    def safely_get_queryset(self, lab):
        return projects_for_lab(lab=lab)

    @extend_schema(responses={200: ProgressOutputSerializer})
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        return Response(ProgressOutputSerializer(project_progress(project=project)).data)
