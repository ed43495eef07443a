"""REST endpoints of the quality actions: an expert's suspensions and their appeal, staff's
decision on appeals, and the adjudication queue.

- ``GET  quality/suspensions`` (person): my project suspensions.
- ``POST quality/suspensions/<id>/appeal`` (person) ``{"text": "..."}``.
- ``GET  staff/suspensions?appeal=pending`` (staff).
- ``POST staff/suspensions/<id>/decide`` (staff) ``{"decision": "reinstate"|"uphold", "note": "..."}``.
- ``GET  staff/adjudication?project=<id>`` (staff): items waiting for adjudication.
- ``POST adjudication/<item uid>/decide`` (staff, or an authority-level expert of the domain who
  did not label the item) ``{"choice": "A", "strength": 2}`` or ``{"ranking": [["r1"], ...]}``,
  in canonical terms (A = the lab's first response), with an optional ``note``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Item, ProjectSuspension
from annotate.quality.adjudication import item_adjudicate
from annotate.quality.selectors import adjudication_items, suspensions_for_expert
from annotate.quality.suspension import DECISIONS, suspension_appeal, suspension_decide
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user


def _expert(request) -> ExpertProfile:
    expert = expert_of_user(request.user)
    if expert is None:
        raise ApplicationError("This account has no expert profile.", code="not_expert", status_code=403)
    return expert


class SuspensionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project = serializers.UUIDField(source="project_id")
    project_name = serializers.CharField(source="project.name")
    active = serializers.BooleanField()
    reason = serializers.CharField()
    details = serializers.JSONField(help_text="The gold standing at the time: passed, failed, mean, high.")
    excluded_labels = serializers.IntegerField()
    released_leases = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    appeal = serializers.CharField(help_text="'' (none), pending, upheld or reinstated.")
    appeal_text = serializers.CharField()
    appealed_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()


class StaffSuspensionOutputSerializer(SuspensionOutputSerializer):
    expert = serializers.CharField(source="expert.pseudonym")


class MySuspensionListApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: results_of(SuspensionOutputSerializer)})
    def get(self, request):
        rows = suspensions_for_expert(expert_id=_expert(request).pk)[:200]
        return Response({"results": SuspensionOutputSerializer(rows, many=True).data})


class SuspensionAppealApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        text = serializers.CharField(max_length=5000)

    @extend_schema(request=InputSerializer, responses={200: SuspensionOutputSerializer})
    def post(self, request, suspension_id):
        expert = _expert(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suspension = ProjectSuspension.objects.filter(pk=suspension_id, expert=expert).first()
        if suspension is None:
            raise ApplicationError("Suspension not found.", code="not_found", status_code=404)
        suspension = suspension_appeal(suspension=suspension, expert=expert, text=data.validated_data["text"])
        return Response(SuspensionOutputSerializer(suspension).data)


class StaffSuspensionListApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(
        parameters=[OpenApiParameter("appeal", str, description="pending, upheld, reinstated")],
        responses={200: results_of(StaffSuspensionOutputSerializer)},
    )
    def get(self, request):
        rows = ProjectSuspension.objects.select_related("project", "expert").order_by("-created_at")
        appeal = request.query_params.get("appeal")
        if appeal:
            rows = rows.filter(appeal=appeal)
        return Response({"results": StaffSuspensionOutputSerializer(rows[:500], many=True).data})


class StaffSuspensionDecideApi(APIView):
    permission_classes = [Allows(A.SUSPENSION_DECIDE)]

    class InputSerializer(InputSerializer):
        decision = serializers.ChoiceField(choices=DECISIONS)
        note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    @extend_schema(request=InputSerializer, responses={200: StaffSuspensionOutputSerializer})
    def post(self, request, suspension_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suspension = ProjectSuspension.objects.filter(pk=suspension_id).first()
        if suspension is None:
            raise ApplicationError("Suspension not found.", code="not_found", status_code=404)
        suspension = suspension_decide(suspension=suspension, actor=request.user, **data.validated_data)
        return Response(StaffSuspensionOutputSerializer(suspension).data)


class AdjudicationItemOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    project = serializers.UUIDField(source="project_id")
    external_id = serializers.CharField()
    prompt = serializers.JSONField()
    responses = serializers.JSONField()
    labels = serializers.SerializerMethodField()
    consensus = serializers.SerializerMethodField()

    def get_labels(self, item) -> list[dict]:
        return [
            {
                "choice": label.choice,
                "strength": label.strength,
                "ranking": label.ranking,
                "rationale": label.rationale,
            }
            for label in item.labels.filter(excluded_from_consensus=False).order_by("created_at")
        ]

    def get_consensus(self, item) -> dict | None:
        consensus = getattr(item, "consensus", None)
        if consensus is None:
            return None
        return {
            "method": consensus.method,
            "choice": consensus.choice,
            "ranking": consensus.ranking,
            "confidence": consensus.confidence,
            "posterior": consensus.posterior,
        }


class StaffAdjudicationListApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(
        parameters=[OpenApiParameter("project", str, description="Only this project's items.")],
        responses={200: results_of(AdjudicationItemOutputSerializer)},
    )
    def get(self, request):
        items = adjudication_items(project_id=request.query_params.get("project") or None)[:100]
        return Response({"results": AdjudicationItemOutputSerializer(items, many=True).data})


class AdjudicationDecideApi(APIView):
    permission_classes = [Allows(A.ITEM_ADJUDICATE)]

    class InputSerializer(InputSerializer):
        choice = serializers.CharField(required=False)
        strength = serializers.IntegerField(required=False, allow_null=True)
        ranking = serializers.JSONField(required=False)
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request, item_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        note = values.pop("note", "")
        item = Item.objects.filter(uid=item_id).first()
        if item is None:
            raise ApplicationError("Item not found.", code="not_found", status_code=404)
        consensus = item_adjudicate(item=item, actor=request.user, decision=values, note=note)
        return Response(
            {
                "item": str(item.uid),
                "method": consensus.method,
                "choice": consensus.choice,
                "strength": consensus.strength,
                "ranking": consensus.ranking,
                "confidence": consensus.confidence,
            }
        )
