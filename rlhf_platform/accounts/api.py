"""REST endpoints for accounts (sign-up, session log-in, me) and a lab's own API keys."""

from __future__ import annotations

from django.contrib.auth import login
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rlhf_platform.accounts.authentication import LabPrincipal
from rlhf_platform.accounts.csrf import NoCrossSiteJson
from rlhf_platform.accounts.login import user_authenticate, user_login, user_logout
from rlhf_platform.accounts.login_throttle import client_address
from rlhf_platform.accounts.permissions import Allows, HasKeyScope, IsLabKey
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.selectors import access_api_key_for_lab, api_keys_for_lab, labs_for_user
from rlhf_platform.accounts.services import api_key_revoke, user_signup
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.serializers import InputSerializer


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    staff_role = serializers.CharField()
    is_expert = serializers.SerializerMethodField()
    labs = serializers.SerializerMethodField()

    def get_is_expert(self, user) -> bool:
        return hasattr(user, "expert_profile")

    def get_labs(self, user) -> list[dict]:
        return [{"id": str(lab.id), "slug": lab.slug, "name": lab.name} for lab in labs_for_user(user=user)]


class SignupApi(APIView):
    """Create an expert account and log it in (session). JSON only, not cross-site."""

    permission_classes = [Allows(A.ACCOUNT_SIGNUP), NoCrossSiteJson]
    authentication_classes: list = []

    class InputSerializer(InputSerializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True)
        full_name = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data, address=client_address(request._request))
        login(request._request, user, backend="rlhf_platform.accounts.backends.PlatformBackend")
        get_token(request._request)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    """Session log-in for scripts and the browser. Sets the session and CSRF cookies.

    JSON only and not cross-site (login CSRF). Throttled: too many failures lock the account
    for a while and make a client address wait (429 with ``Retry-After``; codes
    ``login_locked``, ``login_throttled``), even for the right password."""

    permission_classes = [Allows(A.ACCOUNT_LOGIN), NoCrossSiteJson]
    authentication_classes: list = []

    class InputSerializer(InputSerializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True)

    @extend_schema(request=InputSerializer, responses={200: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_authenticate(
            request=request._request,
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            via="api",
        )
        user_login(request=request._request, user=user, via="api")
        get_token(request._request)
        return Response(UserOutputSerializer(user).data)


class LogoutApi(APIView):
    permission_classes = [Allows(A.ACCOUNT_SELF)]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        user_logout(request=request._request, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [Allows(A.ACCOUNT_SELF)]

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class LabOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    created_at = serializers.DateTimeField()


class LabKeyOutputSerializer(serializers.Serializer):
    lab = LabOutputSerializer()
    key = ApiKeyOutputSerializer()


# A list, not ``IsLabKey & HasKeyScope``: DRF checks a list in order and reports the message
# of the permission that refused (an ``&`` composite has no message of its own, so the caller
# would not learn which scope the key lacks).
LAB_KEY_PERMISSIONS = [IsLabKey, HasKeyScope]


class LabKeyApi(APIView):
    """The lab behind the presented API key, and that key."""

    permission_classes = LAB_KEY_PERMISSIONS

    @extend_schema(responses={200: LabKeyOutputSerializer})
    def get(self, request):
        principal: LabPrincipal = request.user
        return Response(LabKeyOutputSerializer({"lab": principal.lab, "key": principal.api_key}).data)


class LabApiKeyListApi(APIView):
    """The lab's API keys (never their secrets). Keys are created by lab owners in the
    browser (a person hands out credentials, and the audit log names them)."""

    permission_classes = LAB_KEY_PERMISSIONS

    @extend_schema(responses={200: results_of(ApiKeyOutputSerializer)})
    def get(self, request):
        keys = api_keys_for_lab(lab=request.user.lab)
        return Response({"results": ApiKeyOutputSerializer(keys, many=True).data})


class LabApiKeyRevokeApi(APIView):
    permission_classes = LAB_KEY_PERMISSIONS

    @extend_schema(request=None, responses={200: ApiKeyOutputSerializer})
    def post(self, request, key_id):
        principal: LabPrincipal = request.user
        api_key = access_api_key_for_lab(lab=principal.lab, key_id=key_id)
        api_key = api_key_revoke(api_key=api_key, actor=None, by_key=principal.api_key)
        return Response(ApiKeyOutputSerializer(api_key).data)
