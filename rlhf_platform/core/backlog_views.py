"""Staff: the background work's backlog (``rlhf_platform.core.backlog``) as a page,
``/staff/pipeline/``, whose table its script fetches again every few seconds
(``/staff/pipeline/live/``), and as ``GET /api/v1/staff/pipeline`` for monitoring."""

from __future__ import annotations

from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.backlog import STAGE_NAMES, pipeline_backlog
from rlhf_platform.core.web import action_required

REFRESH_SECONDS = 5


class StageSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=STAGE_NAMES)
    queue = serializers.CharField(help_text="The Celery queue whose worker does this stage's work.")
    waits = serializers.CharField(help_text="What waits, in words.")
    waiting = serializers.IntegerField(help_text="How many rows wait.")
    oldest_seconds = serializers.FloatField(
        allow_null=True, help_text="How long the oldest has waited; null when none waits."
    )
    goal_seconds = serializers.FloatField(help_text="BACKLOG_GOAL_SECONDS for this stage.")
    behind = serializers.BooleanField(help_text="The oldest has waited longer than the goal.")


class BrokerSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["eager", "broker"])
    ok = serializers.BooleanField(required=False)
    messages = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text="Messages waiting, by queue."
    )
    error = serializers.CharField(required=False)


class PipelineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    stages = StageSerializer(many=True)
    behind = serializers.ListField(child=serializers.CharField(), help_text="The stages behind their goal.")
    broker = BrokerSerializer()


class StaffPipelineApi(APIView):
    """Staff: what the background work still has to do, stage by stage, and the broker's
    queues."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: PipelineSerializer})
    def get(self, request):
        return Response(PipelineSerializer(pipeline_backlog()).data)


@action_required(A.STAFF_VIEW)
def staff_pipeline(request):
    return render(
        request, "staff/pipeline.html", {"backlog": pipeline_backlog(), "refresh_seconds": REFRESH_SECONDS}
    )


@action_required(A.STAFF_VIEW)
def staff_pipeline_live(request):
    """The page's table alone, fetched again by its script."""
    return render(request, "staff/_pipeline_table.html", {"backlog": pipeline_backlog()})
