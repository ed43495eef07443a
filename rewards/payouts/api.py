"""REST endpoints of the payouts app: an expert's wallet and payouts; staff's payout runs.

Token amounts are rendered as decimal strings of base units (18 decimals): JSON numbers lose
precision beyond 2**53 in most clients.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards.payouts.models import PayoutLine, PayoutRun, PayoutTransaction, Wallet
from rewards.payouts.selectors import (
    payout_failures,
    payout_lines_of_expert,
    payout_run_totals,
    payout_runs,
    wallet_of,
)
from rewards.payouts.services import (
    payout_run_approve,
    payout_run_cancel,
    payout_run_create,
    payout_run_retry,
    wallet_link,
    wallet_message_create,
)
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.services import expert_profile_ensure


def siwe_domain_and_uri(request) -> tuple[str, str]:
    """The EIP-4361 domain is the host the browser talks to; the URI the site's root."""
    return request.get_host(), request.build_absolute_uri("/")


class PayoutWalletSerializer(serializers.ModelSerializer):
    class Meta:
        model = Wallet
        fields = ["address", "chain_id", "linked_at"]


class PayoutWalletStateSerializer(serializers.Serializer):
    wallet = PayoutWalletSerializer(allow_null=True)


class PayoutWalletMessageSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="The EIP-4361 text to sign with personal_sign.")
    nonce = serializers.CharField()
    expires_at = serializers.DateTimeField()


class PayoutTransactionBriefSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="planned, signed, broadcast, confirmed, reverted or failed")

    class Meta:
        model = PayoutTransaction
        fields = ["id", "status", "tx_hash", "nonce", "block_number", "chain_id"]


class PayoutLineOfMineSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="planned, reserved, paid, returned or dropped")
    amount = serializers.CharField(help_text="Token base units (18 decimals), as a string.")
    transaction = PayoutTransactionBriefSerializer()

    class Meta:
        model = PayoutLine
        fields = ["id", "run", "address", "amount", "status", "created_at", "transaction"]


class WalletApi(APIView):
    """The expert's linked wallet (``null`` when none)."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: PayoutWalletStateSerializer})
    def get(self, request):
        profile = expert_profile_ensure(user=request.user)
        return Response(PayoutWalletStateSerializer({"wallet": wallet_of(expert_id=profile.pk)}).data)


class WalletMessageApi(APIView):
    """Step 1 of linking: the server's EIP-4361 message for this address, with a fresh nonce."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        address = serializers.CharField(max_length=42)

    @extend_schema(request=InputSerializer, responses={201: PayoutWalletMessageSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        domain, uri = siwe_domain_and_uri(request)
        issued = wallet_message_create(
            expert=expert_profile_ensure(user=request.user),
            address=data.validated_data["address"],
            domain=domain,
            uri=uri,
        )
        body = {"message": issued.message, "nonce": issued.nonce, "expires_at": issued.expires_at}
        return Response(PayoutWalletMessageSerializer(body).data, status=status.HTTP_201_CREATED)


class WalletLinkApi(APIView):
    """Step 2: the signed message (a browser wallet's ``personal_sign`` or an offline one)."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    class InputSerializer(InputSerializer):
        message = serializers.CharField(max_length=2000, trim_whitespace=False)
        signature = serializers.RegexField(r"^0x[0-9a-fA-F]{130}$", help_text="65 bytes, hex")

    @extend_schema(request=InputSerializer, responses={201: PayoutWalletSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        domain, _uri = siwe_domain_and_uri(request)
        wallet = wallet_link(
            expert=expert_profile_ensure(user=request.user),
            message=data.validated_data["message"].replace("\r\n", "\n"),
            signature=data.validated_data["signature"],
            domain=domain,
            actor=request.user,
        )
        return Response(PayoutWalletSerializer(wallet).data, status=status.HTTP_201_CREATED)


class MyPayoutListApi(GenericAPIView):
    """The expert's payouts, newest first, each with its transaction hash and state."""

    permission_classes = [Allows(A.EXPERT_WORK)]
    serializer_class = PayoutLineOfMineSerializer
    queryset = PayoutLine.objects.none()

    @extend_schema(operation_id="me_payouts_list")
    def get(self, request):
        profile = expert_profile_ensure(user=request.user)
        page = self.paginate_queryset(payout_lines_of_expert(expert_id=profile.pk))
        return self.get_paginated_response(PayoutLineOfMineSerializer(page, many=True).data)


# --- staff -----------------------------------------------------------------------------------


class PayoutRunSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="pending_approval, running, completed or cancelled")
    trigger = serializers.CharField(help_text="schedule or staff")
    requested_by = serializers.EmailField(
        source="created_by.email", default=None, help_text="The admin who started it (null: the schedule)."
    )
    approved_by = serializers.EmailField(
        source="approved_by.email", default=None, help_text="The second admin, for a run that waited."
    )
    min_amount = serializers.CharField()
    totals = serializers.SerializerMethodField(help_text="Sum of amounts by line status (strings).")

    class Meta:
        model = PayoutRun
        fields = [
            "id",
            "status",
            "trigger",
            "requested_by",
            "approved_by",
            "approved_at",
            "created_at",
            "finished_at",
            "min_amount",
            "chain_id",
            "payer",
            "token",
            "totals",
        ]

    def get_totals(self, run) -> dict[str, str]:
        return {key: str(value) for key, value in payout_run_totals(run).items()}


class PayoutTransactionSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="planned, signed, broadcast, confirmed, reverted or failed")
    recipients = serializers.IntegerField(source="lines.count")

    class Meta:
        model = PayoutTransaction
        fields = [
            "id",
            "run",
            "seq",
            "status",
            "nonce",
            "tx_hash",
            "gas_limit",
            "gas_used",
            "block_number",
            "broadcast_attempts",
            "error",
            "signed_at",
            "broadcast_at",
            "finished_at",
            "recipients",
        ]


class PayoutRunDetailSerializer(PayoutRunSerializer):
    transactions = PayoutTransactionSerializer(many=True)

    class Meta(PayoutRunSerializer.Meta):
        fields = [*PayoutRunSerializer.Meta.fields, "transactions"]


class StaffPayoutRunListApi(GenericAPIView):
    """GET: payout runs, newest first. POST (admins): plan a run of every payable balance; it
    waits for another admin's approval (``pending_approval``). Refused while a run is running
    or waiting."""

    permission_classes = [Allows(A.STAFF_VIEW, post=A.PAYOUT_RUN_START)]
    serializer_class = PayoutRunSerializer
    queryset = PayoutRun.objects.none()

    @extend_schema(operation_id="staff_payout_runs_list")
    def get(self, request):
        page = self.paginate_queryset(payout_runs())
        return self.get_paginated_response(PayoutRunSerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: PayoutRunDetailSerializer})
    def post(self, request):
        run = payout_run_create(trigger=PayoutRun.Trigger.STAFF, actor=request.user)
        return Response(PayoutRunDetailSerializer(run).data, status=status.HTTP_201_CREATED)


def _access_run(run_id) -> PayoutRun:
    run = PayoutRun.objects.filter(pk=run_id).first()
    if run is None:
        raise ApplicationError("No such payout run.", code="not_found", status_code=404)
    return run


class StaffPayoutRunDetailApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: PayoutRunDetailSerializer})
    def get(self, request, run_id):
        return Response(PayoutRunDetailSerializer(_access_run(run_id)).data)


class StaffPayoutRunRetryApi(APIView):
    """Resume a running run now, or start a new run after one that had failures."""

    permission_classes = [Allows(A.PAYOUT_RUN_RETRY)]

    @extend_schema(request=None, responses={200: PayoutRunDetailSerializer})
    def post(self, request, run_id):
        run = payout_run_retry(run=_access_run(run_id), actor=request.user)
        return Response(PayoutRunDetailSerializer(run).data)


class StaffPayoutRunApproveApi(APIView):
    """Another admin than the one who started it approves a run waiting for approval; it runs
    now (``four_eyes_same_person`` for its starter)."""

    permission_classes = [Allows(A.PAYOUT_RUN_APPROVE)]

    @extend_schema(request=None, responses={200: PayoutRunDetailSerializer})
    def post(self, request, run_id):
        run = payout_run_approve(run=_access_run(run_id), actor=request.user)
        return Response(PayoutRunDetailSerializer(run).data)


class StaffPayoutRunCancelApi(APIView):
    """An admin cancels a run waiting for approval: nothing of it is paid."""

    permission_classes = [Allows(A.PAYOUT_RUN_APPROVE)]

    class InputSerializer(InputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    @extend_schema(request=InputSerializer, responses={200: PayoutRunDetailSerializer})
    def post(self, request, run_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = payout_run_cancel(run=_access_run(run_id), actor=request.user, **data.validated_data)
        return Response(PayoutRunDetailSerializer(run).data)


class StaffPayoutFailureListApi(GenericAPIView):
    """Transactions that did not pay (failed or reverted), newest first."""

    permission_classes = [Allows(A.STAFF_VIEW)]
    serializer_class = PayoutTransactionSerializer
    queryset = PayoutTransaction.objects.none()

    @extend_schema(operation_id="staff_payout_failures_list")
    def get(self, request):
        page = self.paginate_queryset(payout_failures())
        return self.get_paginated_response(PayoutTransactionSerializer(page, many=True).data)
