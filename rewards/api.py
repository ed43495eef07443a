"""REST endpoints of rewards: an expert's earnings, a lab's budget and reward policies, staff
budgets, credits and clawbacks. Token amounts are decimal strings of base units (JSON numbers
lose precision beyond 2^53 in most clients)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors import access_project_for_lab
from rewards.ledger import ledger_balances
from rewards.models import LedgerTransaction, RewardPolicy
from rewards.selectors import (
    access_lab_for_staff,
    access_project_for_staff,
    expert_statement,
    lab_budgets,
    lab_spend,
    reward_policies_of_project,
)
from rewards.services import budget_credit, label_clawback, reward_policy_create
from rlhf_platform.accounts.models import User
from rlhf_platform.accounts.permissions import IsPerson, IsReviewer
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.services import expert_profile_ensure


class IsPlatformAdmin(IsReviewer):
    """Staff admins: the staff who move money (credit budgets, claw back rewards)."""

    message = "Only platform admins may move money."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_platform_admin


class Amount(serializers.CharField):
    """A token amount: a decimal string of base units (an integer is accepted on input)."""

    def to_representation(self, value) -> str:
        return str(int(value))


# --- Reward policies -------------------------------------------------------------------------


class RewardPolicyOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    base_rate = Amount()
    level_multipliers_bp = serializers.DictField(child=serializers.IntegerField())
    agreement_full_bp = serializers.IntegerField()
    agreement_partial_bp = serializers.IntegerField()
    agreement_none_bp = serializers.IntegerField()
    consensus_min_confidence_bp = serializers.IntegerField()
    gold_window = serializers.IntegerField()
    gold_min_seen = serializers.IntegerField()
    gold_min_accuracy_bp = serializers.IntegerField()
    min_reward = Amount()
    effective_from = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class RewardPolicyInputSerializer(InputSerializer):
    base_rate = serializers.CharField(help_text="Token base units per label (a decimal string or integer).")
    level_multipliers_bp = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Basis points per level, e.g. {"1": 10000, ..., "4": 20000}.',
    )
    agreement_full_bp = serializers.IntegerField(required=False)
    agreement_partial_bp = serializers.IntegerField(required=False)
    agreement_none_bp = serializers.IntegerField(required=False)
    consensus_min_confidence_bp = serializers.IntegerField(required=False)
    gold_window = serializers.IntegerField(required=False)
    gold_min_seen = serializers.IntegerField(required=False)
    gold_min_accuracy_bp = serializers.IntegerField(required=False)
    min_reward = serializers.CharField(required=False)
    effective_from = serializers.DateTimeField(required=False, help_text="Default now; never in the past.")


class ProjectRewardPolicyListApi(LabAPIView):
    """A project's reward policy versions, newest first; POST adds a version (write scope)."""

    serializer_class = RewardPolicyOutputSerializer
    pagination_class = None

    def safely_get_queryset(self, lab):
        return RewardPolicy.objects.filter(project__lab=lab)

    @extend_schema(responses={200: RewardPolicyOutputSerializer(many=True)})
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        return Response(
            RewardPolicyOutputSerializer(reward_policies_of_project(project=project), many=True).data
        )

    @extend_schema(request=RewardPolicyInputSerializer, responses={201: RewardPolicyOutputSerializer})
    def post(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        data = RewardPolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = reward_policy_create(project=project, api_key=self.api_key, **data.validated_data)
        return Response(RewardPolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)


class StaffRewardPolicyListApi(APIView):
    """Staff: any project's reward policy versions; POST (admins) adds a version."""

    pagination_class = None

    def get_permissions(self):
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsReviewer()]

    @extend_schema(responses={200: RewardPolicyOutputSerializer(many=True)})
    def get(self, request, project_id):
        project = access_project_for_staff(project_id=project_id)
        return Response(
            RewardPolicyOutputSerializer(reward_policies_of_project(project=project), many=True).data
        )

    @extend_schema(request=RewardPolicyInputSerializer, responses={201: RewardPolicyOutputSerializer})
    def post(self, request, project_id):
        project = access_project_for_staff(project_id=project_id)
        data = RewardPolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = reward_policy_create(project=project, actor=request.user, **data.validated_data)
        return Response(RewardPolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)


# --- Budgets ---------------------------------------------------------------------------------


class ProjectSpendSerializer(serializers.Serializer):
    project = serializers.UUIDField()
    name = serializers.CharField()
    spent = serializers.CharField(
        help_text="Rewards less clawbacks (plus clawbacks reversed on appeal), base units."
    )
    rewarded_labels = serializers.IntegerField()
    policy_version = serializers.IntegerField(allow_null=True)
    max_reward_per_label = serializers.CharField(allow_null=True)


class LabBudgetSerializer(serializers.Serializer):
    lab = serializers.UUIDField()
    credited = serializers.CharField()
    remaining = serializers.CharField()
    committed = serializers.CharField(help_text="The most owed for labels handed out, not yet final.")
    projects = ProjectSpendSerializer(many=True)


class LabBudgetApi(LabAPIView):
    """The lab's remaining budget and the spend of each of its projects."""

    serializer_class = LabBudgetSerializer

    def safely_get_queryset(self, lab):
        return LedgerTransaction.objects.filter(lab=lab)

    @extend_schema(responses={200: LabBudgetSerializer})
    def get(self, request):
        return Response(LabBudgetSerializer(lab_spend(lab=self.lab)).data)


class StaffBudgetSerializer(serializers.Serializer):
    lab = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    remaining = serializers.CharField()


class StaffBudgetListApi(APIView):
    """Staff: every lab's remaining budget."""

    permission_classes = [IsReviewer]

    @extend_schema(responses={200: StaffBudgetSerializer(many=True)})
    def get(self, request):
        return Response(StaffBudgetSerializer(lab_budgets(), many=True).data)


class TransactionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    kind = serializers.CharField()
    amount = Amount()
    created_at = serializers.DateTimeField()
    memo = serializers.CharField()
    project = serializers.UUIDField(source="project_id", allow_null=True)
    label = serializers.UUIDField(source="label_id", allow_null=True)
    details = serializers.JSONField(source="data", help_text="A reward's formula and its inputs.")


class StaffBudgetCreditApi(APIView):
    """Admins: credit a lab's budget (audited). An ``idempotency_key`` makes a retry credit once."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(InputSerializer):
        amount = serializers.CharField(help_text="Base units, a decimal string or integer.")
        memo = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")

    @extend_schema(request=InputSerializer, responses={201: TransactionOutputSerializer})
    def post(self, request, lab_id):
        lab = access_lab_for_staff(lab_id=lab_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        txn, created = budget_credit(lab=lab, actor=request.user, **data.validated_data)
        return Response(
            TransactionOutputSerializer(txn).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class StaffLabelClawbackApi(APIView):
    """Admins: claw back a label's reward (an audit invalidated it). Audited; once per label."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(InputSerializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses={201: TransactionOutputSerializer})
    def post(self, request, label_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        txn = label_clawback(label_id=label_id, reason=data.validated_data["reason"], actor=request.user)
        if txn is None:
            raise ApplicationError(
                "This label has no reward to claw back.", code="nothing_to_claw_back", status_code=404
            )
        return Response(TransactionOutputSerializer(txn).data, status=status.HTTP_201_CREATED)


# --- The expert's earnings -------------------------------------------------------------------


class EarningsSerializer(serializers.Serializer):
    pending = serializers.CharField(help_text="The most submitted labels on items not yet final can earn.")
    payable = serializers.CharField()
    in_flight = serializers.CharField()
    paid = serializers.CharField()


class EarningsApi(APIView):
    """The logged-in expert's balances."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: EarningsSerializer})
    def get(self, request):
        profile = expert_profile_ensure(user=request.user)
        balances = {k: str(v) for k, v in ledger_balances(expert_id=profile.pk).items()}
        return Response(EarningsSerializer(balances).data)


class EarningsStatementApi(GenericAPIView):
    """The logged-in expert's statement, newest first: every reward with its formula's inputs,
    clawbacks and payouts."""

    permission_classes = [IsPerson]
    serializer_class = TransactionOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerTransaction.objects.none()
        return expert_statement(expert=expert_profile_ensure(user=self.request.user))

    @extend_schema(responses={200: TransactionOutputSerializer(many=True)})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TransactionOutputSerializer(page, many=True).data)
