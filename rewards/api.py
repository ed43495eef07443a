"""REST endpoints of rewards: an expert's earnings, a lab's budget and reward policies, staff
budgets, credits and clawbacks. Token amounts are decimal strings of base units (JSON numbers
lose precision beyond 2^53 in most clients)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors import access_project_for_lab
from rewards.credits import budget_credit, budget_credit_approve, budget_credit_reject
from rewards.holdbacks import holdbacks_pending
from rewards.ledger import ledger_balances
from rewards.models import LedgerTransaction, RewardPolicy
from rewards.policy import policy_max_reward
from rewards.policy_information import policy_expected_cost
from rewards.selectors import (
    access_budget_credit,
    access_lab_for_staff,
    access_project_for_staff,
    budget_credits,
    expert_statement,
    lab_budgets,
    lab_spend,
    reward_policies_of_project,
)
from rewards.services import label_clawback, reward_policy_create
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.pagination import CreatedCursorPagination
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.services import expert_profile_ensure


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
    kind = serializers.CharField(help_text="agreement (the formula of old items) or information")
    peer_weight_bp = serializers.IntegerField()
    right_weight_bp = serializers.IntegerField()
    score_window = serializers.IntegerField()
    score_prior = serializers.IntegerField()
    evidence_z_hundredths = serializers.IntegerField(
        help_text="z (in hundredths) a window must show to be paid; 0 for versions before the gate."
    )
    holdback_bp = serializers.IntegerField()
    settle_seconds = serializers.IntegerField()
    max_reward_per_label = serializers.SerializerMethodField(help_text="What the budget gate reserves.")
    expected_cost_per_label = serializers.SerializerMethodField()
    effective_from = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_max_reward_per_label(self, policy) -> str:
        return str(policy_max_reward(policy))

    def get_expected_cost_per_label(self, policy) -> dict:
        cost = policy_expected_cost(policy)
        return {**cost, "expected_cost_per_label": str(cost["expected_cost_per_label"])}


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
    kind = serializers.ChoiceField(choices=RewardPolicy.Kind.choices, required=False)
    peer_weight_bp = serializers.IntegerField(required=False)
    right_weight_bp = serializers.IntegerField(required=False)
    score_window = serializers.IntegerField(required=False)
    score_prior = serializers.IntegerField(required=False)
    evidence_z_hundredths = serializers.IntegerField(
        required=False,
        help_text="Default 200 (z = 2.00): a window is paid when it shows information at that z.",
    )
    holdback_bp = serializers.IntegerField(required=False)
    settle_seconds = serializers.IntegerField(required=False)
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

    permission_classes = [Allows(A.STAFF_VIEW, post=A.REWARD_POLICY_CREATE)]

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
        help_text="Rewards less clawbacks and forfeits, plus clawbacks reversed on appeal and "
        "adjustments, base units."
    )
    rewarded_labels = serializers.IntegerField()
    policy_version = serializers.IntegerField(allow_null=True)
    max_reward_per_label = serializers.CharField(allow_null=True)
    policy_kind = serializers.CharField(allow_null=True)
    expected_cost_per_label = serializers.CharField(
        allow_null=True, help_text="Mean reward per label under the policy in force (its maximum before any)."
    )


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

    permission_classes = [Allows(A.STAFF_VIEW)]

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


class BudgetCreditOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    lab = serializers.UUIDField(source="lab_id")
    amount = Amount()
    memo = serializers.CharField()
    status = serializers.CharField(help_text="pending_approval, posted or rejected")
    requested_by = serializers.EmailField(source="requested_by.email", default=None)
    requested_at = serializers.DateTimeField()
    approved_by = serializers.EmailField(
        source="approved_by.email", default=None, help_text="The second admin (null within the threshold)."
    )
    decided_by = serializers.EmailField(source="decided_by.email", default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()
    transaction = TransactionOutputSerializer(allow_null=True, help_text="Once posted.")


class StaffBudgetCreditApi(APIView):
    """Admins: credit a lab's budget (audited). Within ``BUDGET_CREDIT_APPROVAL_THRESHOLD`` it
    is posted at once; above, it waits (``pending_approval``) for a second admin. An
    ``idempotency_key`` makes a retry return the first credit (200)."""

    permission_classes = [Allows(A.BUDGET_CREDIT)]

    class InputSerializer(InputSerializer):
        amount = serializers.CharField(help_text="Base units, a decimal string or integer.")
        memo = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")

    @extend_schema(request=InputSerializer, responses={201: BudgetCreditOutputSerializer})
    def post(self, request, lab_id):
        lab = access_lab_for_staff(lab_id=lab_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit, created = budget_credit(lab=lab, actor=request.user, **data.validated_data)
        return Response(
            BudgetCreditOutputSerializer(credit).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RequestedCursorPagination(CreatedCursorPagination):
    ordering = "-requested_at"


class StaffBudgetCreditListApi(GenericAPIView):
    """Staff: budget credits, newest first (``?status=pending_approval`` for those waiting)."""

    permission_classes = [Allows(A.STAFF_VIEW)]
    serializer_class = BudgetCreditOutputSerializer
    pagination_class = RequestedCursorPagination

    def get_queryset(self):
        return budget_credits(status=self.request.query_params.get("status") or None)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, description="pending_approval, posted or rejected")],
        responses={200: BudgetCreditOutputSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BudgetCreditOutputSerializer(page, many=True).data)


class StaffBudgetCreditApproveApi(APIView):
    """A second admin approves a pending credit: it is posted (``four_eyes_same_person`` for
    the admin who asked for it)."""

    permission_classes = [Allows(A.BUDGET_CREDIT_APPROVE)]

    @extend_schema(request=None, responses={200: BudgetCreditOutputSerializer})
    def post(self, request, credit_id):
        credit = budget_credit_approve(credit=access_budget_credit(credit_id=credit_id), actor=request.user)
        return Response(BudgetCreditOutputSerializer(credit).data)


class StaffBudgetCreditRejectApi(APIView):
    """An admin rejects a pending credit (the one who asked may withdraw it): nothing is posted."""

    permission_classes = [Allows(A.BUDGET_CREDIT_APPROVE)]

    class InputSerializer(InputSerializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses={200: BudgetCreditOutputSerializer})
    def post(self, request, credit_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit = budget_credit_reject(
            credit=access_budget_credit(credit_id=credit_id), actor=request.user, **data.validated_data
        )
        return Response(BudgetCreditOutputSerializer(credit).data)


class StaffLabelClawbackApi(APIView):
    """Admins: claw back a label's reward (an audit invalidated it). Audited; once per label."""

    permission_classes = [Allows(A.REWARD_CLAWBACK)]

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


class HeldShareSerializer(serializers.Serializer):
    label = serializers.UUIDField()
    held = serializers.CharField()
    since = serializers.DateTimeField()
    reason = serializers.CharField(help_text="Why it is held now (settling period, suspension, group).")


class EarningsSerializer(serializers.Serializer):
    pending = serializers.CharField(help_text="The most submitted labels on items not yet final can earn.")
    held = serializers.CharField(help_text="Shares of rewards held back until they settle (pending).")
    held_shares = HeldShareSerializer(many=True, help_text="The oldest 200 held shares, with their reason.")
    payable = serializers.CharField()
    in_flight = serializers.CharField()
    paid = serializers.CharField()


class EarningsApi(APIView):
    """The logged-in expert's balances."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: EarningsSerializer})
    def get(self, request):
        profile = expert_profile_ensure(user=request.user)
        balances = {k: str(v) for k, v in ledger_balances(expert_id=profile.pk).items()}
        balances["held_shares"] = holdbacks_pending(expert_id=profile.pk)
        return Response(EarningsSerializer(balances).data)


class EarningsStatementApi(GenericAPIView):
    """The logged-in expert's statement, newest first: every reward with its formula's inputs,
    clawbacks and payouts."""

    permission_classes = [Allows(A.EXPERT_WORK)]
    serializer_class = TransactionOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerTransaction.objects.none()
        return expert_statement(expert=expert_profile_ensure(user=self.request.user))

    @extend_schema(responses={200: TransactionOutputSerializer(many=True)})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TransactionOutputSerializer(page, many=True).data)
