"""The expert's own labels over the API: ``GET /api/v1/me/labels`` (what ``/me/labels/`` shows)
and ``POST /api/v1/assignments/{id}/revise`` (correct a label: annotate/label_revisions.py)."""

from __future__ import annotations

import uuid

from django.core.paginator import Paginator
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api_queue import label_payload, request_expert
from annotate.label_revisions import MAX_REVISIONS, label_for_expert, label_revise
from annotate.my_labels import PAGE_SIZE, label_row, labels_of_expert
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError


def _row_output(row: dict) -> dict:
    return {
        "assignment": row["assignment"],
        "item": row["item"],
        "project": {"id": str(row["project"].pk), "name": row["project"].name},
        "value": row["value"],
        "answer": row["answer"],
        "created_at": row["created_at"].isoformat(),
        "revisions": row["revisions"],
        "revisions_left": row["revisions_left"] if row["open"] else 0,
        "open": row["open"],
        "status": row["status"],
        "consensus": row["consensus"],
        "agreed": row["agreed"],
    }


class MyLabelsApi(APIView):
    """The caller's labels, newest first, ``PAGE_SIZE`` a page (``?page=``, ``?project=``): the
    value in the letters they saw, corrections made, whether it can still be corrected, and the
    item's consensus once final (never whether a label was gold)."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Only this project's labels (its id)."),
            OpenApiParameter("page", int, description="From 1."),
        ],
        responses={200: dict},
    )
    def get(self, request):
        expert = request_expert(request)
        project_id = request.query_params.get("project") or None
        if project_id is not None:
            try:
                project_id = uuid.UUID(project_id)
            except ValueError:
                raise ApplicationError("project is a project id.", code="invalid", field="project") from None
        page_number = request.query_params.get("page") or "1"
        if not page_number.isdigit() or int(page_number) < 1:
            raise ApplicationError("page is a number from 1.", code="invalid", field="page")
        paginator = Paginator(labels_of_expert(expert=expert, project_id=project_id), PAGE_SIZE)
        page = paginator.get_page(page_number)
        return Response(
            {
                "count": paginator.count,
                "page": page.number,
                "pages": paginator.num_pages,
                "max_revisions": MAX_REVISIONS,
                "results": [_row_output(label_row(label)) for label in page.object_list],
            }
        )


class AssignmentReviseApi(APIView):
    """Correct the label of one of the caller's assignments, in the letters shown, as a submit
    takes it: ``{"choice": "B", "strength": 1, "rationale": "..."}``. 200 with the label as
    ``/me/labels`` lists it. 404 for an assignment not the caller's or without a label; 403
    ``suspended``; 409 ``label_closed``, ``revision_limit`` or ``label_busy``; 400 naming the
    field (or ``unchanged``)."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(serializers.Serializer):
        choice = serializers.JSONField(required=False)
        strength = serializers.JSONField(required=False)
        ranking = serializers.JSONField(required=False)
        criteria = serializers.JSONField(required=False)
        rationale = serializers.JSONField(required=False)

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request, assignment_id):
        expert = request_expert(request)
        label = label_for_expert(expert=expert, assignment_id=assignment_id)
        payload, _client_id = label_payload(request, what="label")
        label_revise(label=label, expert=expert, payload=payload, actor=request.user)
        label = label_for_expert(expert=expert, assignment_id=assignment_id)
        return Response(_row_output(label_row(label)))
