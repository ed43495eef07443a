"""The expert's labelling API (session-authenticated; usable by scripts after log-in): a transport
of the queue's engine (annotate/queue/): it authenticates, parses, calls the engine and renders
(annotate/queue/output.py). Next and submit are usually answered by the ASGI fast path in front
of it (annotate/queue/fast_path.py), which hands this view every case it does not answer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.guidelines import guidelines_render
from annotate.models import Assignment, Project
from annotate.quality.gold_pool import gold_accuracy, gold_review
from annotate.queue import (
    REPORT_REASONS,
    NoWork,
    access_assignment_for_expert,
    assignment_extend,
    assignment_report,
    assignment_skip,
    assignment_submit,
    projects_open_to,
    queue_next,
)
from annotate.queue.output import assignment_output, iso, label_output
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user


def request_expert(request) -> ExpertProfile:
    profile = expert_of_user(request.user)
    if profile is None:
        raise ApplicationError(
            "Only experts label: this account has no expert profile.", code="not_expert", status_code=403
        )
    return profile


def label_payload(request, *, what: str) -> tuple[dict, str]:
    """The body of a label (or an exam answer) in the letters shown, and its ``client_id``."""
    if not isinstance(request.data, dict):
        raise ApplicationError(f"Send the {what} as a JSON object.", code="invalid")
    payload = dict(request.data)
    client_id = payload.pop("client_id", "")
    if not isinstance(client_id, str):
        raise ApplicationError("client_id is a string.", code="invalid", field="client_id")
    return payload, client_id


class AssignmentOutputSerializer(serializers.Serializer):
    """What the expert sees. Responses are lettered in the shuffled order, without model names
    or ids; a gold item looks exactly like any other. (This class documents the shape in the
    API schema; ``annotate.queue.output.assignment_output`` builds it: the queue's hot path
    skips the serializer machinery.)"""

    id = serializers.UUIDField()
    item = serializers.UUIDField()
    project = serializers.DictField(help_text="{id, name, guidelines_url}")
    prompt = serializers.JSONField()
    prompt_html = serializers.JSONField(
        help_text="The prompt as sanitised HTML (annotate/rendering.py): a string, or one per chat message."
    )
    responses = serializers.ListField(
        child=serializers.DictField(), help_text="[{label, text, html}, ...]; html: text rendered, sanitised"
    )
    label_schema = serializers.JSONField()
    status = serializers.CharField()
    leased_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    lease_seconds = serializers.IntegerField()


class QueueNextApi(APIView):
    """Lease the next item. 204 when there is nothing, with the reason in the
    ``Queue-Reason`` header (``suspended``, ``no_credential``, ``level_too_low``,
    ``not_qualified``, ``qualification_unavailable``, ``queue_empty``, ...) and a sentence in
    ``Queue-Reason-Message``. Work that exists but waits (``waiting_for_quality``,
    ``waiting_for_leases``: annotate/queue/answers.py) also sends ``Retry-After`` in seconds."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        project = serializers.UUIDField(required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AssignmentOutputSerializer,
            204: OpenApiResponse(
                description="Nothing to label; see Queue-Reason, and Retry-After (seconds) when work waits."
            ),
        },
    )
    def post(self, request):
        expert = request_expert(request)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        result = queue_next(expert=expert, project_id=data.validated_data.get("project"))
        if isinstance(result, NoWork):
            headers = {"Queue-Reason": result.reason, "Queue-Reason-Message": result.message}
            if result.retry_after is not None:
                headers["Retry-After"] = str(result.retry_after)
            return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)
        return Response(assignment_output(result))


class AssignmentDetailApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: AssignmentOutputSerializer})
    def get(self, request, assignment_id):
        assignment = access_assignment_for_expert(expert=request_expert(request), assignment_id=assignment_id)
        return Response(assignment_output(assignment))


class LabelOutputSerializer(serializers.Serializer):
    """The stored label (documents the submit response's shape). The same keys for a gold item
    and an ordinary one: a gold item's answer appears only in the gold review, once the item is
    retired from the gold pool (``/api/v1/queue/gold-review``)."""

    id = serializers.UUIDField()
    assignment = serializers.UUIDField(source="assignment_id")
    client_id = serializers.CharField()
    created_at = serializers.DateTimeField()


class AssignmentSubmitApi(APIView):
    """Submit the label, in the letters shown: ``{"client_id": "...", "choice": "A",
    "strength": 2, "criteria": {"A": {"helpfulness": 6}, "B": {...}}, "rationale": "...",
    "active_seconds": 42.5}`` (pairwise) or ``{"ranking": [["C"], ["A", "B"], ["D"]], ...}``.
    201 for a new label; 200 with the same label for a retry with the same ``client_id``."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(serializers.Serializer):
        client_id = serializers.CharField(max_length=100)
        choice = serializers.JSONField(required=False)
        strength = serializers.JSONField(required=False)
        ranking = serializers.JSONField(required=False)
        criteria = serializers.JSONField(required=False)
        rationale = serializers.JSONField(required=False)
        active_seconds = serializers.JSONField(required=False)

    @extend_schema(
        request=InputSerializer, responses={201: LabelOutputSerializer, 200: LabelOutputSerializer}
    )
    def post(self, request, assignment_id):
        expert = request_expert(request)
        assignment = access_assignment_for_expert(expert=expert, assignment_id=assignment_id)
        payload, client_id = label_payload(request, what="label")
        label, created = assignment_submit(
            assignment=assignment, expert=expert, payload=payload, client_id=client_id
        )
        return Response(label_output(assignment=assignment, label=label), status=201 if created else 200)


class AssignmentExtendApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer})
    def post(self, request, assignment_id):
        expert = request_expert(request)
        assignment = access_assignment_for_expert(expert=expert, assignment_id=assignment_id)
        assignment = assignment_extend(assignment=assignment, expert=expert)
        assignment = access_assignment_for_expert(expert=expert, assignment_id=assignment.pk)
        return Response(assignment_output(assignment))


class AssignmentSkipApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request, assignment_id):
        expert = request_expert(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = access_assignment_for_expert(expert=expert, assignment_id=assignment_id)
        assignment_skip(assignment=assignment, expert=expert, reason=data.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssignmentReportApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        reason = serializers.ChoiceField(choices=REPORT_REASONS)
        details = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    @extend_schema(request=InputSerializer, responses={201: None})
    def post(self, request, assignment_id):
        expert = request_expert(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = access_assignment_for_expert(expert=expert, assignment_id=assignment_id)
        report = assignment_report(assignment=assignment, expert=expert, **data.validated_data)
        return Response({"id": str(report.pk)}, status=status.HTTP_201_CREATED)


class QueueProjectOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    domain = serializers.CharField(source="domain.path")
    min_level = serializers.IntegerField()


class QueueProjectListApi(APIView):
    """Projects the logged-in expert may work on now."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: results_of(QueueProjectOutputSerializer)})
    def get(self, request):
        projects = projects_open_to(expert=request_expert(request))
        return Response({"results": QueueProjectOutputSerializer(projects, many=True).data})


class GuidelinesOutputSerializer(serializers.Serializer):
    project = serializers.UUIDField()
    name = serializers.CharField()
    guidelines_html = serializers.CharField(help_text="The project's Markdown guidelines as sanitised HTML.")


class QueueProjectGuidelinesApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: GuidelinesOutputSerializer})
    def get(self, request, project_id):
        expert = request_expert(request)
        project = next((p for p in projects_open_to(expert=expert) if p.pk == project_id), None)
        if project is None:
            # Guidelines of a project you have an assignment in stay readable.
            if not Assignment.objects.filter(expert=expert, project_id=project_id).exists():
                raise ApplicationError("Project not found.", code="not_found", status_code=404)
            project = Project.objects.get(pk=project_id)
        return Response(
            {
                "project": str(project.pk),
                "name": project.name,
                "guidelines_html": guidelines_render(project.guidelines),
            }
        )


class GoldReviewQuerySerializer(InputSerializer):
    project = serializers.UUIDField(required=False)


class GoldReviewApi(APIView):
    """The expert's gold review: the gold items they answered that are retired from the gold pool
    (never served as gold again), each with the expected answer in the letters they saw, its
    explanation and their grade (``passed``), for projects that show gold answers; and their
    gold ``accuracy`` over graded golds, given from ``min_graded`` graded golds on. Gold items
    still live never appear here, nor anywhere else an expert can see."""

    permission_classes = [Allows(A.EXPERT_GOLD_REVIEW)]

    @extend_schema(parameters=[GoldReviewQuerySerializer], responses={200: None})
    def get(self, request):
        expert = request_expert(request)
        query = GoldReviewQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        project = None
        if query.validated_data.get("project"):
            project = Project.objects.filter(pk=query.validated_data["project"]).first()
            if project is None:
                raise ApplicationError(
                    "Project not found.", code="not_found", field="project", status_code=404
                )
        results = gold_review(expert=expert, project=project)
        for entry in results:
            entry["answered_at"] = iso(entry["answered_at"])
            entry["retired_at"] = iso(entry["retired_at"])
        accuracy = gold_accuracy(expert=expert, project=project)
        accuracy["as_of"] = iso(accuracy["as_of"])
        return Response({"accuracy": accuracy, "results": results})
