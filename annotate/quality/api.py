"""REST endpoints of quality: a project's agreement report (staff and the owning lab),
per-annotator quality and item drill-down (staff only).

Labs never see who labelled: the report has no annotator in it at all; staff endpoints name
annotators by pseudonym (and, on the annotator table, by e-mail for contacting them).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Item, Project
from annotate.quality.report import DEFAULT_BOOTSTRAP, annotator_report, item_drilldown, project_report
from annotate.selectors import access_project_for_lab, projects_for_lab
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.serializers import InputSerializer


class ReportQuerySerializer(InputSerializer):
    n_boot = serializers.IntegerField(
        min_value=0, max_value=5000, default=DEFAULT_BOOTSTRAP, help_text="Bootstrap samples (0: none)."
    )
    agreement_below = serializers.FloatField(
        min_value=0.0, max_value=1.0, default=0.6, help_text="Low-agreement items: agreement under this."
    )
    limit = serializers.IntegerField(min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(min_value=0, default=0)


REPORT_PARAMETERS = [
    OpenApiParameter("n_boot", int, description="Bootstrap samples for the alpha intervals (default 1000)."),
    OpenApiParameter("agreement_below", float, description="Low-agreement threshold (default 0.6)."),
    OpenApiParameter("limit", int, description="Low-agreement items per page (default 50)."),
    OpenApiParameter("offset", int, description="Offset into the low-agreement items."),
]


def _report(request, project: Project) -> Response:
    query = ReportQuerySerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return Response(project_report(project=project, **query.validated_data))


class LabProjectQualityApi(LabAPIView):
    """The quality report of one of the lab's projects: Krippendorff's alpha with a bootstrap
    95% interval per criterion, per batch, Fleiss' kappa, the consensus distribution and the
    low-agreement items (paginated by ``limit``/``offset``)."""

    def safely_get_queryset(self, lab):
        return projects_for_lab(lab=lab)

    @extend_schema(parameters=REPORT_PARAMETERS, responses={200: dict})
    def get(self, request, project_id):
        return _report(request, access_project_for_lab(lab=self.lab, project_id=project_id))


def _staff_project(project_id) -> Project:
    project = Project.objects.select_related("domain").filter(pk=project_id).first()
    if project is None:
        raise ApplicationError("Project not found.", code="not_found", status_code=404)
    return project


class StaffProjectQualityApi(APIView):
    """The same report as the lab's, for staff, on any project."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(parameters=REPORT_PARAMETERS, responses={200: dict})
    def get(self, request, project_id):
        return _report(request, _staff_project(project_id))


class StaffProjectAnnotatorsApi(APIView):
    """Per-annotator quality in a project. Filters: ``status`` (active, warned, suspended),
    ``flag`` (e.g. position_bias), ``min_labels``."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    class QuerySerializer(InputSerializer):
        status = serializers.ChoiceField(choices=["active", "warned", "suspended"], required=False)
        flag = serializers.CharField(required=False, max_length=40)
        min_labels = serializers.IntegerField(min_value=0, required=False)

    @extend_schema(parameters=[QuerySerializer], responses={200: dict})
    def get(self, request, project_id):
        query = self.QuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rows = annotator_filter(annotator_report(project=_staff_project(project_id)), **query.validated_data)
        return Response({"results": rows})


def annotator_filter(
    rows: list[dict], *, status: str | None = None, flag: str | None = None, min_labels: int | None = None
) -> list[dict]:
    if status:
        rows = [r for r in rows if r["status"] == status]
    if flag:
        rows = [r for r in rows if flag in r["flags"]]
    if min_labels is not None:
        rows = [r for r in rows if r["labels"] >= min_labels]
    return rows


class StaffItemApi(APIView):
    """One item: its labels (annotators by pseudonym), consensus, confidence and state."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: dict})
    def get(self, request, item_id):
        item = Item.objects.filter(uid=item_id).first()
        if item is None:
            raise ApplicationError("Item not found.", code="not_found", status_code=404)
        return Response(item_drilldown(item=item))
