"""Staff endpoints about the chain the payouts are bound to (``chain_identity``), its recovery
after a reset (``chain_rebind``) and transfers of the payer made outside the platform
(``outside_transfers``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards.payouts.chain_identity import chain_identity_current, chain_identity_status
from rewards.payouts.chain_rebind import chain_identity_rebind
from rewards.payouts.models import OutsideTransfer
from rewards.payouts.outside_transfers import outside_transfer_acknowledge, outside_transfers_of
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.pagination import CreatedCursorPagination
from rlhf_platform.core.serializers import InputSerializer


class StaffPayoutChainApi(APIView):
    """The recorded chain and the node's, compared: ``state`` is ``match``, ``mismatch`` (the
    node was reset or replaced: payouts are refused, ``differences`` says why),
    ``not_recorded`` or ``unknown`` (the node did not answer)."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(chain_identity_status())


class StaffPayoutChainRebindApi(APIView):
    """Re-bind the payouts to the node's chain after a reset: without ``genesis_hash`` a dry run
    (what differs, which transactions would be marked lost); with the node's genesis hash the
    re-bind itself (docs/operations.md)."""

    permission_classes = [Allows(A.PAYOUT_CHAIN_REBIND)]

    class InputSerializer(InputSerializer):
        genesis_hash = serializers.RegexField(
            r"^0x[0-9a-fA-F]{64}$",
            required=False,
            allow_blank=True,
            default="",
            help_text="The node's genesis hash (as the dry run shows it), to confirm the re-bind.",
        )

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = chain_identity_rebind(genesis_hash=data.validated_data["genesis_hash"], actor=request.user)
        return Response(report.as_dict())


class OutsideTransferSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.EmailField(source="acknowledged_by.email", allow_null=True, default=None)
    transfers = serializers.ListField(
        child=serializers.DictField(), help_text="[{receiver, value}]; value in token base units, a string."
    )

    class Meta:
        model = OutsideTransfer
        fields = [
            "id",
            "tx_hash",
            "block_number",
            "transfers",
            "reason",
            "acknowledged_by",
            "acknowledged_at",
        ]


class _NewestAcknowledgedFirst(CreatedCursorPagination):
    ordering = "-acknowledged_at"


class StaffOutsideTransferListApi(GenericAPIView):
    """GET: the payer's transfers acknowledged as made outside the platform (on the current
    chain). POST: acknowledge one, with a reason; ``payouts_reconcile`` then counts it as
    explained."""

    permission_classes = [Allows(A.STAFF_VIEW, post=A.PAYOUT_TRANSFER_ACKNOWLEDGE)]
    serializer_class = OutsideTransferSerializer
    queryset = OutsideTransfer.objects.none()
    pagination_class = _NewestAcknowledgedFirst

    class InputSerializer(InputSerializer):
        tx_hash = serializers.RegexField(r"^0x[0-9a-fA-F]{64}$", help_text="The transaction's hash.")
        reason = serializers.CharField(max_length=2000, help_text="Why it was made outside the platform.")

    @extend_schema(operation_id="staff_payout_outside_transfers_list")
    def get(self, request):
        identity = chain_identity_current()
        rows = outside_transfers_of(identity) if identity else OutsideTransfer.objects.none()
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(OutsideTransferSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutsideTransferSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        acknowledged = outside_transfer_acknowledge(
            tx_hash=data.validated_data["tx_hash"], reason=data.validated_data["reason"], actor=request.user
        )
        return Response(OutsideTransferSerializer(acknowledged).data, status=status.HTTP_201_CREATED)
