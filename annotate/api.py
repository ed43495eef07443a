"""REST endpoints for labs: projects (batches, progress and exports in their own modules)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate.exports import FORMS
from annotate.guidelines import guidelines_render
from annotate.models import Project
from annotate.schema import DEFAULT_SCHEMA
from annotate.selectors import access_project_for_lab, projects_for_lab
from annotate.services import project_create, project_update
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.selectors import access_domain_by_path


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    domain = serializers.CharField(source="domain.path")
    min_level = serializers.IntegerField()
    status = serializers.CharField()
    overlap = serializers.IntegerField()
    max_overlap = serializers.IntegerField()
    gold_rate = serializers.FloatField()
    lease_seconds = serializers.IntegerField()
    requires_qualification = serializers.BooleanField()
    gold_threshold = serializers.FloatField()
    gold_min_seen = serializers.IntegerField()
    confidence_threshold = serializers.FloatField()
    gold_feedback = serializers.BooleanField()
    gold_exposure_cap = serializers.IntegerField()
    senior_level = serializers.IntegerField()
    contested_hold_seconds = serializers.IntegerField()
    export_form = serializers.CharField()
    label_schema = serializers.JSONField()
    schema_version = serializers.IntegerField()
    guidelines = serializers.CharField()
    guidelines_html = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_guidelines_html(self, project) -> str:
        return guidelines_render(project.guidelines)


class _ProjectFields(InputSerializer):
    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(help_text="Domain path, e.g. medicine/cardiology.")
    min_level = serializers.IntegerField(min_value=1, max_value=4, required=False)
    guidelines = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    status = serializers.ChoiceField(choices=Project.Status.choices, required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=20, required=False)
    max_overlap = serializers.IntegerField(min_value=1, max_value=20, required=False)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=0.5, required=False)
    lease_seconds = serializers.IntegerField(min_value=60, max_value=86400, required=False)
    requires_qualification = serializers.BooleanField(required=False)
    gold_threshold = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, help_text="Gold accuracy to keep (default 0.55)."
    )
    gold_min_seen = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, help_text="Golds seen before any suspension (default 8)."
    )
    confidence_threshold = serializers.FloatField(
        min_value=0.5, max_value=1.0, required=False, help_text="Confidence at which an item is final (0.8)."
    )
    gold_feedback = serializers.BooleanField(
        required=False, help_text="Show experts gold answers once each gold item retires (the gold review)."
    )
    gold_exposure_cap = serializers.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        help_text="Annotators a gold item is served to before it retires (default 12).",
    )
    senior_level = serializers.IntegerField(
        min_value=1,
        max_value=4,
        required=False,
        help_text="Annotators of at least this level are senior (default 3, expert): the extra labels an "
        "unsure item asks for are offered to them first, and their agreement with a consensus their own vote "
        "carried counts as right for rewards while their gold record is not bad.",
    )
    contested_hold_seconds = serializers.IntegerField(
        min_value=0,
        max_value=86400,
        required=False,
        help_text="How long those extra labels wait for such an annotator before anyone may give them "
        "(default 600; 0: no wait).",
    )
    export_form = serializers.ChoiceField(
        choices=list(FORMS),
        required=False,
        help_text="TRL's form of the dpo, reward and ranking exports: standard (strings, the default) or "
        "conversational (lists of {role, content} messages); a download may ask for the other with form.",
    )
    label_schema = serializers.JSONField(required=False)


class ProjectFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Project.Status.choices)
    domain = django_filters.CharFilter(field_name="domain__path")

    class Meta:
        model = Project
        fields = ["status", "domain"]


class ProjectListApi(LabAPIView):
    """The lab's projects (cursor-paginated, filter by ``status`` and ``domain``); POST creates."""

    serializer_class = ProjectOutputSerializer
    filterset_class = ProjectFilter

    def safely_get_queryset(self, lab):
        return projects_for_lab(lab=lab)

    class InputSerializer(_ProjectFields):
        pass

    @extend_schema(responses={200: ProjectOutputSerializer(many=True)})
    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ProjectOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["domain"] = access_domain_by_path(path=values["domain"])
        values.setdefault("label_schema", DEFAULT_SCHEMA)
        project = project_create(lab=self.lab, api_key=self.api_key, **values)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(LabAPIView):
    serializer_class = ProjectOutputSerializer

    class InputSerializer(_ProjectFields):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                field.required = False

    def safely_get_queryset(self, lab):
        return projects_for_lab(lab=lab)

    @extend_schema(responses={200: ProjectOutputSerializer})
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(request=InputSerializer, responses={200: ProjectOutputSerializer})
    def patch(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "domain" in values:
            values["domain"] = access_domain_by_path(path=values["domain"])
        project = project_update(project=project, api_key=self.api_key, **values)
        return Response(ProjectOutputSerializer(project).data)
