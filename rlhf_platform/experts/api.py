"""REST endpoints: domains, an expert's own profile and credentials, staff review."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.parsers import FormParser, JSONParser, MultiPartParser
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.models import Credential, Domain, ExpertProfile, Level
from rlhf_platform.experts.selectors import (
    access_credential_for_expert,
    access_credential_for_staff,
    access_domain_by_path,
    credentials_for_review,
    domains_active,
    expert_of_user,
    expertise_levels,
    experts_eligible,
)
from rlhf_platform.experts.services import (
    credential_approve,
    credential_reject,
    credential_revoke,
    credential_submit,
    domain_create,
    domain_update,
    expert_profile_ensure,
    expert_profile_update,
)

# --- Domains ------------------------------------------------------------------------------


class DomainOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    path = serializers.CharField(help_text="Slugs from the root, e.g. medicine/cardiology.")
    slug = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.SerializerMethodField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()

    def get_parent(self, domain) -> str | None:
        return domain.path.rsplit("/", 1)[0] if "/" in domain.path else None


class DomainListApi(APIView):
    """The domain taxonomy. Anyone logged in reads it; staff add to it."""

    pagination_class = None

    permission_classes = [Allows(A.EXPERT_PROFILE, post=A.DOMAIN_MANAGE)]

    class InputSerializer(InputSerializer):
        slug = serializers.SlugField(max_length=60)
        name = serializers.CharField(max_length=120)
        parent = serializers.CharField(required=False, allow_null=True, help_text="Parent path.")
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses={200: results_of(DomainOutputSerializer)})
    def get(self, request):
        domains = Domain.objects.order_by("path") if request.user.is_reviewer else domains_active()
        return Response({"results": DomainOutputSerializer(domains, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: DomainOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        parent_path = values.pop("parent", None)
        parent = access_domain_by_path(path=parent_path, field="parent") if parent_path else None
        domain = domain_create(actor=request.user, parent=parent, **values)
        return Response(DomainOutputSerializer(domain).data, status=status.HTTP_201_CREATED)


class DomainDetailApi(APIView):
    permission_classes = [Allows(A.DOMAIN_MANAGE)]

    class InputSerializer(InputSerializer):
        name = serializers.CharField(max_length=120, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        is_active = serializers.BooleanField(required=False)

    @extend_schema(request=InputSerializer, responses={200: DomainOutputSerializer})
    def patch(self, request, domain_id):
        domain = Domain.objects.filter(pk=domain_id).first()
        if domain is None:
            raise ApplicationError("Domain not found.", code="not_found", status_code=404)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        domain = domain_update(actor=request.user, domain=domain, **data.validated_data)
        return Response(DomainOutputSerializer(domain).data)


# --- An expert's own profile and credentials ----------------------------------------------


class LinkSerializer(serializers.Serializer):
    kind = serializers.CharField()
    url = serializers.CharField()


class ProfileOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    pseudonym = serializers.CharField()
    bio = serializers.CharField()
    links = LinkSerializer(many=True)
    claimed_domains = serializers.SerializerMethodField()
    expertise = serializers.SerializerMethodField(
        help_text="Level (1 novice .. 4 authority) per domain path, from approved credentials."
    )
    suspended = serializers.SerializerMethodField()

    def get_claimed_domains(self, profile) -> list[str]:
        return sorted(d.path for d in profile.claimed_domains.all())

    def get_expertise(self, profile) -> dict[str, int]:
        return expertise_levels(expert=profile)

    def get_suspended(self, profile) -> bool:
        return profile.suspended_at is not None


class ProfileApi(APIView):
    """The logged-in expert's own profile."""

    permission_classes = [Allows(A.EXPERT_PROFILE)]

    class InputSerializer(InputSerializer):
        bio = serializers.CharField(required=False, allow_blank=True, max_length=5000)
        links = serializers.JSONField(required=False)
        claimed_domains = serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Domain paths."
        )

    @extend_schema(responses={200: ProfileOutputSerializer})
    def get(self, request):
        profile = expert_profile_ensure(user=request.user)
        return Response(ProfileOutputSerializer(profile).data)

    @extend_schema(request=InputSerializer, responses={200: ProfileOutputSerializer})
    def patch(self, request):
        profile = expert_profile_ensure(user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "claimed_domains" in values:
            values["claimed_domains"] = [
                access_domain_by_path(path=path, field=f"claimed_domains.{i}")
                for i, path in enumerate(values["claimed_domains"])
            ]
        profile = expert_profile_update(profile=profile, **values)
        return Response(ProfileOutputSerializer(profile).data)


class CredentialOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    domain = serializers.CharField(source="domain.path")
    kind = serializers.CharField()
    title = serializers.CharField()
    issuer = serializers.CharField()
    identifier = serializers.CharField()
    issued_on = serializers.DateField()
    expires_on = serializers.DateField(allow_null=True)
    status = serializers.CharField()
    level = serializers.IntegerField(allow_null=True)
    decision_reason = serializers.CharField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    evidence = serializers.SerializerMethodField()

    def get_evidence(self, credential) -> dict | None:
        if not credential.evidence:
            return None
        return {
            "name": credential.evidence_name,
            "content_type": credential.evidence_content_type,
            "size": credential.evidence_size,
            "sha256": credential.evidence_sha256,
            "url": f"/api/v1/credentials/{credential.pk}/evidence",
        }


class StaffCredentialOutputSerializer(CredentialOutputSerializer):
    expert = serializers.SerializerMethodField()
    reviewed_by = serializers.SerializerMethodField()

    def get_expert(self, credential) -> dict:
        user = credential.expert.user
        return {
            "id": str(credential.expert_id),
            "email": user.email,
            "full_name": user.full_name,
            "pseudonym": credential.expert.pseudonym,
        }

    def get_reviewed_by(self, credential) -> str | None:
        return credential.reviewed_by.email if credential.reviewed_by else None


class CredentialListApi(GenericAPIView):
    """The logged-in expert's credentials; POST submits one (multipart, with evidence)."""

    permission_classes = [Allows(A.EXPERT_PROFILE)]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    serializer_class = CredentialOutputSerializer

    class InputSerializer(InputSerializer):
        domain = serializers.CharField(help_text="Domain path, e.g. medicine/cardiology.")
        kind = serializers.ChoiceField(choices=Credential.Kind.choices)
        title = serializers.CharField(max_length=200)
        issuer = serializers.CharField(max_length=200)
        identifier = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        issued_on = serializers.DateField()
        expires_on = serializers.DateField(required=False, allow_null=True, default=None)
        evidence = serializers.FileField(required=False, allow_null=True, default=None)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Credential.objects.none()
        profile = expert_profile_ensure(user=self.request.user)
        return profile.credentials.select_related("domain").order_by("-created_at")

    @extend_schema(responses={200: CredentialOutputSerializer(many=True)})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CredentialOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CredentialOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["domain"] = access_domain_by_path(path=values["domain"])
        profile = expert_profile_ensure(user=request.user)
        credential = credential_submit(expert=profile, **values)
        return Response(CredentialOutputSerializer(credential).data, status=status.HTTP_201_CREATED)


class CredentialDetailApi(APIView):
    permission_classes = [Allows(A.EXPERT_PROFILE)]

    @extend_schema(responses={200: CredentialOutputSerializer})
    def get(self, request, credential_id):
        profile = expert_profile_ensure(user=request.user)
        credential = access_credential_for_expert(expert=profile, credential_id=credential_id)
        return Response(CredentialOutputSerializer(credential).data)


class CredentialEvidenceApi(APIView):
    """The evidence file, to its owner and to staff only (404 to anyone else)."""

    permission_classes = [Allows(A.EXPERT_PROFILE)]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, credential_id):
        if request.user.is_reviewer:
            credential = access_credential_for_staff(credential_id=credential_id)
        else:
            profile = expert_of_user(request.user)
            if profile is None:
                raise ApplicationError("Credential not found.", code="not_found", status_code=404)
            credential = access_credential_for_expert(expert=profile, credential_id=credential_id)
        if not credential.evidence:
            raise ApplicationError("This credential has no evidence file.", code="not_found", status_code=404)
        response = FileResponse(
            credential.evidence.open("rb"),
            content_type=credential.evidence_content_type,
            as_attachment=True,
            filename=credential.evidence_name,
        )
        response["Cache-Control"] = "private, no-store"
        return response


# --- Staff review ---------------------------------------------------------------------------


class StaffCredentialListApi(GenericAPIView):
    """The review queue (``?status=submitted`` by default; ``?status=`` for all)."""

    permission_classes = [Allows(A.STAFF_VIEW)]
    serializer_class = StaffCredentialOutputSerializer
    queryset = Credential.objects.none()  # for the schema; get() builds the real one

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[""] + list(Credential.Status.values))],
        responses={200: StaffCredentialOutputSerializer(many=True)},
    )
    def get(self, request):
        wanted = request.query_params.get("status", Credential.Status.SUBMITTED)
        if wanted and wanted not in Credential.Status.values:
            raise ApplicationError(f"Unknown status {wanted!r}.", code="invalid_choice", field="status")
        queryset = credentials_for_review(status=wanted or None)
        self.paginator.ordering = "created_at"
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(StaffCredentialOutputSerializer(page, many=True).data)


class StaffCredentialDetailApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: StaffCredentialOutputSerializer})
    def get(self, request, credential_id):
        credential = access_credential_for_staff(credential_id=credential_id)
        return Response(StaffCredentialOutputSerializer(credential).data)


class StaffCredentialApproveApi(APIView):
    permission_classes = [Allows(A.CREDENTIAL_DECIDE)]

    class InputSerializer(InputSerializer):
        level = serializers.ChoiceField(
            choices=Level.choices,
            required=False,
            allow_null=True,
            help_text="1 novice .. 4 authority; defaults by kind.",
        )

    @extend_schema(request=InputSerializer, responses={200: StaffCredentialOutputSerializer})
    def post(self, request, credential_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential = access_credential_for_staff(credential_id=credential_id)
        credential = credential_approve(
            credential=credential, reviewer=request.user, level=data.validated_data.get("level")
        )
        return Response(StaffCredentialOutputSerializer(credential).data)


class _ReasonInput(InputSerializer):
    reason = serializers.CharField(max_length=2000)


class StaffCredentialRejectApi(APIView):
    permission_classes = [Allows(A.CREDENTIAL_DECIDE)]

    @extend_schema(request=_ReasonInput, responses={200: StaffCredentialOutputSerializer})
    def post(self, request, credential_id):
        data = _ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = access_credential_for_staff(credential_id=credential_id)
        credential = credential_reject(
            credential=credential, reviewer=request.user, reason=data.validated_data["reason"]
        )
        return Response(StaffCredentialOutputSerializer(credential).data)


class StaffCredentialRevokeApi(APIView):
    permission_classes = [Allows(A.CREDENTIAL_DECIDE)]

    @extend_schema(request=_ReasonInput, responses={200: StaffCredentialOutputSerializer})
    def post(self, request, credential_id):
        data = _ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = access_credential_for_staff(credential_id=credential_id)
        credential = credential_revoke(
            credential=credential, reviewer=request.user, reason=data.validated_data["reason"]
        )
        return Response(StaffCredentialOutputSerializer(credential).data)


class EligibleExpertOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    pseudonym = serializers.CharField()
    email = serializers.EmailField(source="user.email")


class StaffEligibleExpertsApi(GenericAPIView):
    """Experts eligible for a domain at a minimum level (what the queue will route by)."""

    permission_classes = [Allows(A.STAFF_VIEW)]
    serializer_class = EligibleExpertOutputSerializer
    queryset = ExpertProfile.objects.none()  # for the schema; get() builds the real one

    @extend_schema(
        parameters=[
            OpenApiParameter("domain", str, required=True, description="Domain path."),
            OpenApiParameter("min_level", int, description="1..4, default 1."),
        ],
        responses={200: EligibleExpertOutputSerializer(many=True)},
    )
    def get(self, request):
        path = request.query_params.get("domain")
        if not path:
            raise ApplicationError("Give a domain path.", code="required", field="domain")
        domain = access_domain_by_path(path=path)
        try:
            min_level = int(request.query_params.get("min_level", 1))
        except ValueError as exc:
            raise ApplicationError("min_level must be 1..4.", code="invalid", field="min_level") from exc
        if min_level not in (1, 2, 3, 4):
            raise ApplicationError("min_level must be 1..4.", code="invalid", field="min_level")
        queryset = experts_eligible(domain=domain, min_level=min_level).select_related("user")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(EligibleExpertOutputSerializer(page, many=True).data)
