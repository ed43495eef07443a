"""A lab's API keys and members, for the lab's people in their browser session.

``/api/v1/labs/<lab_id>/...``: members list the keys and the members; owners create keys (the
secret is in the creation's answer only), revoke them, add members by e-mail, change their role
and remove them. The same services as the browser's key page (``accounts.services``) and
``accounts.members``. Another lab is not found (404); a member asking for an owner's action is
refused (403).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rlhf_platform.accounts.api import ApiKeyOutputSerializer
from rlhf_platform.accounts.members import (
    access_lab_for_member,
    access_member,
    lab_member_invite,
    lab_member_remove,
    lab_member_role_change,
    lab_members,
)
from rlhf_platform.accounts.models import ApiKey, LabMembership
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.selectors import access_api_key_for_lab, api_keys_for_lab
from rlhf_platform.accounts.services import api_key_create, api_key_revoke
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.openapi_errors import error_responses
from rlhf_platform.core.serializers import InputSerializer


def _no_query(request) -> None:
    if request.query_params:
        name = sorted(request.query_params)[0]
        raise ApplicationError("Unknown query parameter.", code="unknown_field", field=name)


_READ_ERRORS = {
    400: "An unknown query parameter.",
    401: "Not logged in.",
    403: "Not a member of any lab.",
    404: "No such lab among the caller's labs.",
}
_WRITE_ERRORS = {
    400: "A bad field or query parameter, named in `field`.",
    401: "Not logged in.",
    403: "The caller is a member of the lab, not an owner.",
    404: "No such lab (or key, or member) among the caller's labs.",
}


class ApiKeyCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. 'ingest pipeline'.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Scope.values),
        min_length=1,
        help_text="read and/or write.",
    )


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    secret = serializers.CharField(help_text="The whole key: shown in this answer only, never again.")


class LabSessionKeyListApi(APIView):
    """The lab's API keys (GET, members); POST creates one (owners): its secret is in this
    answer only."""

    permission_classes = [Allows(A.LAB_KEYS_VIEW, post=A.LAB_KEYS_MANAGE)]

    @extend_schema(responses={200: results_of(ApiKeyOutputSerializer), **error_responses(_READ_ERRORS)})
    def get(self, request, lab_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id)
        return Response({"results": ApiKeyOutputSerializer(api_keys_for_lab(lab=lab), many=True).data})

    @extend_schema(
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer, **error_responses(_WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "create", value={"name": "ingest pipeline", "scopes": ["read", "write"]}, request_only=True
            ),
            OpenApiExample(
                "created",
                value={
                    "id": "5d0f3a52-51a4-4a53-9d83-0a3c6f2b7e41",
                    "name": "ingest pipeline",
                    "prefix": "9f3a61c2",
                    "scopes": ["read", "write"],
                    "created_at": "2026-01-05T10:00:00Z",
                    "last_used_at": None,
                    "revoked_at": None,
                    "secret": "rlhf_9f3a61c2_…",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, lab_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id, owner_only=True)
        data = ApiKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, secret = api_key_create(
            lab=lab,
            name=data.validated_data["name"],
            scopes=data.validated_data["scopes"],
            actor=request.user,
        )
        body = ApiKeyOutputSerializer(api_key).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class LabSessionKeyRevokeApi(APIView):
    """Revoke one of the lab's keys (owners). A revoked key stops working at once."""

    permission_classes = [Allows(A.LAB_KEYS_MANAGE)]

    @extend_schema(
        request=None,
        responses={
            200: ApiKeyOutputSerializer,
            **error_responses({**_WRITE_ERRORS, 409: "The key is already revoked."}),
        },
    )
    def post(self, request, lab_id, key_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id, owner_only=True)
        api_key = access_api_key_for_lab(lab=lab, key_id=key_id)
        return Response(ApiKeyOutputSerializer(api_key_revoke(api_key=api_key, actor=request.user)).data)


class MemberOutputSerializer(serializers.Serializer):
    user = serializers.UUIDField(source="user_id")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    role = serializers.ChoiceField(choices=LabMembership.Role.values)
    created_at = serializers.DateTimeField()


class MemberAddInputSerializer(InputSerializer):
    email = serializers.EmailField(help_text="An existing account's e-mail.")
    role = serializers.ChoiceField(choices=LabMembership.Role.values, default=LabMembership.Role.MEMBER)


class MemberRoleInputSerializer(InputSerializer):
    role = serializers.ChoiceField(choices=LabMembership.Role.values)


MEMBER_EXAMPLE = {
    "user": "a1f0c3de-9b7e-4a1c-8d2f-3e4b5c6d7e8f",
    "email": "ana@lab.example",
    "full_name": "Ana Souza",
    "role": "member",
    "created_at": "2026-01-05T10:00:00Z",
}


class LabMemberListApi(APIView):
    """The lab's members (GET, members); POST adds an existing account by e-mail (owners)."""

    permission_classes = [Allows(A.LAB_MEMBERS_VIEW, post=A.LAB_MEMBERS_MANAGE)]

    @extend_schema(
        responses={200: results_of(MemberOutputSerializer), **error_responses(_READ_ERRORS)},
        examples=[
            OpenApiExample(
                "members", value={"results": [MEMBER_EXAMPLE]}, response_only=True, status_codes=["200"]
            )
        ],
    )
    def get(self, request, lab_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id)
        return Response({"results": MemberOutputSerializer(lab_members(lab=lab), many=True).data})

    @extend_schema(
        request=MemberAddInputSerializer,
        responses={
            201: MemberOutputSerializer,
            **error_responses({**_WRITE_ERRORS, 409: "The person is a member already."}),
        },
        examples=[
            OpenApiExample("add", value={"email": "ana@lab.example", "role": "member"}, request_only=True),
            OpenApiExample("added", value=MEMBER_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request, lab_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id, owner_only=True)
        data = MemberAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = lab_member_invite(lab=lab, actor=request.user, **data.validated_data)
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class LabMemberDetailApi(APIView):
    """Change a member's role (PATCH) or remove them (DELETE); owners only. The lab's last
    owner can be neither made a member nor removed (409 ``last_owner``)."""

    permission_classes = [Allows(A.LAB_MEMBERS_MANAGE)]

    @extend_schema(
        request=MemberRoleInputSerializer,
        responses={
            200: MemberOutputSerializer,
            **error_responses({**_WRITE_ERRORS, 409: "The lab's last owner would become a member."}),
        },
        examples=[
            OpenApiExample("make owner", value={"role": "owner"}, request_only=True),
            OpenApiExample(
                "owner", value={**MEMBER_EXAMPLE, "role": "owner"}, response_only=True, status_codes=["200"]
            ),
        ],
    )
    def patch(self, request, lab_id, user_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id, owner_only=True)
        membership = access_member(lab=lab, user_id=user_id)
        data = MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = lab_member_role_change(
            membership=membership, role=data.validated_data["role"], actor=request.user
        )
        return Response(MemberOutputSerializer(membership).data)

    @extend_schema(
        request=None,
        responses={
            204: None,
            **error_responses({**_WRITE_ERRORS, 409: "The lab's last owner would be removed."}),
        },
    )
    def delete(self, request, lab_id, user_id):
        _no_query(request)
        lab = access_lab_for_member(user=request.user, lab_id=lab_id, owner_only=True)
        membership = access_member(lab=lab, user_id=user_id)
        lab_member_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
