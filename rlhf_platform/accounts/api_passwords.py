"""REST endpoints to change a password and to reset a forgotten one (see ``passwords``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rlhf_platform.accounts.csrf import NoCrossSiteJson
from rlhf_platform.accounts.passwords import (
    user_password_change,
    user_password_reset,
    user_password_reset_request,
)
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.views_passwords import RESET_SENT
from rlhf_platform.core.serializers import InputSerializer


class MessageOutputSerializer(serializers.Serializer):
    message = serializers.CharField()


class PasswordChangeApi(APIView):
    """Change one's password (the current one is required). The calling session stays logged
    in (with a new key); every other session of the person ends."""

    permission_classes = [Allows(A.ACCOUNT_SELF)]

    class InputSerializer(InputSerializer):
        current_password = serializers.CharField(write_only=True)
        new_password = serializers.CharField(write_only=True)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_password_change(request=request._request, user=request.user, via="api", **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetRequestApi(APIView):
    """Ask for a reset link by e-mail. The answer is the same whether the account exists or not."""

    permission_classes = [Allows(A.ACCOUNT_LOGIN), NoCrossSiteJson]
    authentication_classes: list = []

    class InputSerializer(InputSerializer):
        email = serializers.EmailField()

    @extend_schema(request=InputSerializer, responses={202: MessageOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_password_reset_request(request=request._request, email=data.validated_data["email"], via="api")
        return Response({"message": RESET_SENT}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    """Set a new password with the ``uid`` and ``token`` of a reset link. Ends every session of
    the person; log in afterwards."""

    permission_classes = [Allows(A.ACCOUNT_LOGIN), NoCrossSiteJson]
    authentication_classes: list = []

    class InputSerializer(InputSerializer):
        uid = serializers.CharField()
        token = serializers.CharField()
        new_password = serializers.CharField(write_only=True)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_password_reset(
            request=request._request,
            uidb64=data.validated_data["uid"],
            token=data.validated_data["token"],
            new_password=data.validated_data["new_password"],
            via="api",
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
