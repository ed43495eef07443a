"""REST endpoints of suspected groups of annotators (:mod:`annotate.quality.groups`):

- ``GET  staff/groups?status=suspected&project=<id>`` (staff): groups with members and evidence.
- ``POST staff/groups/<id>/decide`` (reviewers) ``{"decision": "confirm"|"clear", "note": "..."}``:
  one decision for every member (a confirmation needs a note of 10 characters or more).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.quality.groups import DECISIONS, group_decide, group_summary, staff_groups
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.serializers import InputSerializer


class GroupMemberOutputSerializer(serializers.Serializer):
    expert = serializers.UUIDField(source="expert_id")
    pseudonym = serializers.CharField(source="expert.pseudonym")
    labels_at_flag = serializers.IntegerField()
    added_at = serializers.DateTimeField()


class GroupOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project = serializers.UUIDField(source="project_id")
    project_name = serializers.CharField(source="project.name")
    status = serializers.CharField(help_text="suspected, confirmed or cleared.")
    signals = serializers.JSONField(help_text="agreement, timing, credential, fingerprint.")
    summary = serializers.SerializerMethodField()
    evidence = serializers.JSONField(
        help_text="edges: pairs of expert ids with each signal's evidence (scores, shared items, the first "
        "16 hex digits of shared file hashes and device hashes); thresholds."
    )
    members = GroupMemberOutputSerializer(many=True, source="members.all")
    detected_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()

    def get_summary(self, group) -> str:
        return group_summary(group)


class StaffGroupListApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="suspected (default), confirmed, cleared"),
            OpenApiParameter("project", str, description="Only this project's groups."),
        ],
        responses={200: results_of(GroupOutputSerializer)},
    )
    def get(self, request):
        status = request.query_params.get("status") or "suspected"
        if status not in ("suspected", "confirmed", "cleared"):
            raise ApplicationError(
                "status is suspected, confirmed or cleared.", code="invalid", field="status"
            )
        rows = staff_groups(status=status)
        project = request.query_params.get("project")
        if project:
            rows = rows.filter(project_id=project)
        return Response({"results": GroupOutputSerializer(rows[:200], many=True).data})


class StaffGroupDecideApi(APIView):
    permission_classes = [Allows(A.GROUP_DECIDE)]

    class InputSerializer(InputSerializer):
        decision = serializers.ChoiceField(choices=DECISIONS)
        note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    @extend_schema(request=InputSerializer, responses={200: GroupOutputSerializer})
    def post(self, request, group_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = staff_groups().filter(pk=group_id).first()
        if group is None:
            raise ApplicationError("Group not found.", code="not_found", status_code=404)
        group_decide(group=group, actor=request.user, **data.validated_data)
        return Response(GroupOutputSerializer(staff_groups().get(pk=group.pk)).data)
