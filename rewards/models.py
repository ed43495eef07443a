"""The ledger (double-entry, append-only) and the per-project reward policies.

Every movement of tokens is one :class:`LedgerTransaction` with two or more
:class:`LedgerEntry` rows whose signed amounts sum to zero. A balance is the sum of an
account's entries (``LedgerAccount.balance`` is a copy of that sum kept under the account's row
lock, for the queue's budget gate; ``ledger_balance`` recomputes it from the entries).

Sign convention: an entry adds its amount to its account. Staff credit a lab: treasury -x, lab
budget +x. A label's reward: lab budget -x, annotator +x. A payout: annotator -x, in flight +x,
then in flight -x, paid out +x. So the treasury's balance is minus everything ever issued, and
the sum of all balances is always zero.

Guarantees held by the database (PostgreSQL, migration 0002): entries and transactions are
never updated or deleted; at commit, every transaction's entries sum to zero (a deferred
constraint trigger). The code checks the same before it writes (and is all SQLite has).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotate.models import Item, Label, Project
from rewards.fields import TokenAmountField
from rlhf_platform.accounts.models import Lab
from rlhf_platform.experts.models import ExpertProfile


def amount_field(**kwargs) -> TokenAmountField:
    """uint256 has 78 decimal digits: any on-chain amount of an 18-decimal token fits."""
    return TokenAmountField(**kwargs)


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The ledger is append-only: post a new transaction instead.")

    def delete(self):
        raise AppendOnlyError("The ledger is append-only: post a new transaction instead.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The ledger is append-only: post a new transaction instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The ledger is append-only: post a new transaction instead.")


class LedgerAccount(models.Model):
    """Where tokens sit. One treasury; one budget per lab; per expert, one account for each
    stage of their earnings (payable, in flight, paid out)."""

    class Kind(models.TextChoices):
        TREASURY = "treasury", "treasury (source of every credit)"
        LAB_BUDGET = "lab_budget", "lab budget"
        ANNOTATOR = "annotator", "annotator payable"
        IN_FLIGHT = "payouts_in_flight", "payouts in flight"
        PAID_OUT = "paid_out", "paid out"
        HELD = "held", "held back (pending release)"

    EXPERT_KINDS = (Kind.ANNOTATOR, Kind.IN_FLIGHT, Kind.PAID_OUT, Kind.HELD)

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expert = models.ForeignKey(
        ExpertProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    balance = amount_field(
        default=0,
        help_text="The sum of the account's entries, kept in step under the account's row lock.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind="treasury"), name="ledger_one_treasury"
            ),
            models.UniqueConstraint(
                fields=["lab"], condition=Q(kind="lab_budget"), name="ledger_one_budget_per_lab"
            ),
            models.UniqueConstraint(
                fields=["kind", "expert"], condition=Q(expert__isnull=False), name="ledger_expert_account"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="treasury", lab__isnull=True, expert__isnull=True)
                    | Q(kind="lab_budget", lab__isnull=False, expert__isnull=True)
                    | Q(
                        kind__in=["annotator", "payouts_in_flight", "paid_out", "held"],
                        lab__isnull=True,
                        expert__isnull=False,
                    )
                ),
                name="ledger_account_owner_matches_kind",
            ),
            # Money in flight and money paid cannot be negative. (A payable balance can be, after
            # a clawback of labels already paid out: the debt is set off against later rewards.)
            models.CheckConstraint(
                condition=~Q(kind__in=["payouts_in_flight", "paid_out"]) | Q(balance__gte=0),
                name="ledger_paid_and_in_flight_not_negative",
            ),
        ]

    def __str__(self) -> str:
        owner = self.lab_id or self.expert_id or ""
        return f"{self.kind} {owner}".strip()


class LedgerTransaction(AppendOnlyModel):
    """One movement of tokens. ``reference`` is unique: posting the same reference twice is a
    no-op, which makes every posting idempotent (``reward:<label id>``, ``payout_reserve:...``)."""

    class Kind(models.TextChoices):
        BUDGET_CREDIT = "budget_credit", "budget credit"
        REWARD = "reward", "reward for a label"
        CLAWBACK = "clawback", "clawback of a reward"
        CLAWBACK_REVERSAL = "clawback_reversal", "clawback reversed on appeal"
        PAYOUT_RESERVE = "payout_reserve", "payout reserved"
        PAYOUT_SETTLE = "payout_settle", "payout settled"
        PAYOUT_RETURN = "payout_return", "payout returned"
        PAYOUT_LOST = "payout_lost", "payout lost with its chain"
        HOLDBACK_RELEASE = "holdback_release", "held reward released"
        HOLDBACK_FORFEIT = "holdback_forfeit", "held reward forfeited"
        REWARD_ADJUSTMENT = "reward_adjustment", "reward adjusted after a consensus revision"

    id = models.BigAutoField(primary_key=True)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="Public id.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=200, unique=True, help_text="Idempotency key of the posting.")
    created_at = models.DateTimeField(default=timezone.now)
    memo = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the transaction is about, for statements and spend reports (indexed reads).
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expert = models.ForeignKey(
        ExpertProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = amount_field(
        default=0, help_text="The amount moved (positive), as posted in the entries; 0 for a zero reward."
    )
    data = models.JSONField(default=dict, blank=True, help_text="Inputs of the amount (a reward's formula).")

    class Meta:
        indexes = [
            models.Index(fields=["expert", "kind", "-created_at"], name="ledger_txn_expert"),
            models.Index(fields=["project", "kind"], name="ledger_txn_project"),
            models.Index(fields=["label", "kind"], name="ledger_txn_label"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="ledger_txn_amount_gte_0")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} ({self.amount})"


class LedgerEntry(AppendOnlyModel):
    """One leg of a transaction: a signed amount on one account."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = amount_field(help_text="Signed, in token base units: positive adds to the account.")

    class Meta:
        indexes = [models.Index(fields=["account", "amount"], name="ledger_entry_account")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount} on {self.account_id}"


class RewardPolicy(AppendOnlyModel):
    """How a project pays for a label, one immutable version per row.

    Kind ``agreement`` (``rewards.policy``): amount = base_rate x level multiplier x agreement
    weight x gold factor, with the multipliers and weights in basis points (10,000 = 1) and
    integer arithmetic rounding down; a label that earns anything earns at least ``min_reward``.
    Kind ``information`` (``rewards.policy_information``): base_rate x level multiplier x
    (peer weight x the annotator's peer-prediction score + right weight x their chance-corrected
    accuracy where the answer is known), a share held back (``rewards.holdbacks``). The version
    in force for a label is the latest whose ``effective_from`` is at or before the moment its
    item was finalised.
    """

    class Kind(models.TextChoices):
        AGREEMENT = "agreement", "agreement with the consensus"
        INFORMATION = "information", "information: peer prediction and chance-corrected accuracy"

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="reward_policies")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AGREEMENT)
    base_rate = amount_field(help_text="Token base units per label at multiplier and weight 1.")
    level_multipliers_bp = models.JSONField(
        help_text='Basis points by expertise level: {"1": 10000, "2": 12500, "3": 15000, "4": 20000}.'
    )
    agreement_full_bp = models.PositiveIntegerField(default=10000, help_text="Agrees with the consensus.")
    agreement_partial_bp = models.PositiveIntegerField(
        default=5000, help_text="Adjacent: same choice at another strength, or a tie next to a weak choice."
    )
    agreement_none_bp = models.PositiveIntegerField(default=0, help_text="Contradicts the consensus.")
    consensus_min_confidence_bp = models.PositiveIntegerField(
        default=8000,
        help_text="Below this consensus confidence every label gets the partial weight.",
    )
    gold_window = models.PositiveIntegerField(
        default=10, help_text="The expert's last N graded golds in the project before the label."
    )
    gold_min_seen = models.PositiveIntegerField(
        default=5, help_text="Fewer graded golds than this in the window: the gold factor passes."
    )
    gold_min_accuracy_bp = models.PositiveIntegerField(
        default=7000, help_text="Window accuracy below this: the label earns nothing."
    )
    min_reward = amount_field(default=0, help_text="A label that earns anything earns at least this.")
    # Kind "information" only.
    peer_weight_bp = models.PositiveIntegerField(
        default=10000, help_text="Weight of the peer-prediction (Correlated Agreement) term."
    )
    right_weight_bp = models.PositiveIntegerField(
        default=10000, help_text="Weight of the chance-corrected accuracy term (gold and consensus)."
    )
    score_window = models.PositiveIntegerField(
        default=50, help_text="The annotator's last N scored labels in the project averaged before clipping."
    )
    score_prior = models.PositiveIntegerField(
        default=5, help_text="Pseudo-labels of score 0 added to the window's average (shrinks short windows)."
    )
    evidence_z_hundredths = models.PositiveIntegerField(
        default=200,
        help_text="A window's evidence of information must reach this z (hundredths: 200 is 2.00) "
        "to be paid.",
    )
    holdback_bp = models.PositiveIntegerField(default=2000, help_text="Share of each reward held back.")
    settle_seconds = models.PositiveIntegerField(
        default=7 * 86400, help_text="Settling period before a held share is released."
    )
    effective_from = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="reward_policy_version_unique"),
            models.CheckConstraint(condition=Q(base_rate__gte=0), name="reward_policy_base_rate_gte_0"),
            models.CheckConstraint(condition=Q(min_reward__gte=0), name="reward_policy_min_reward_gte_0"),
        ]
        indexes = [models.Index(fields=["project", "-effective_from"], name="reward_policy_in_force")]

    def __str__(self) -> str:
        return f"reward policy v{self.version} of {self.project_id}"


class BudgetCredit(models.Model):
    """A staff credit of a lab's budget: who asked, who approved, and its ledger transaction.

    A credit that, with the lab's other single-admin credits of the last 24 hours, stays within
    ``BUDGET_CREDIT_APPROVAL_THRESHOLD`` is posted at once (``posted``, no approver); a larger
    one waits (``pending_approval``) until a second admin approves it (``posted``) or an admin
    rejects it (``rejected``). The ledger moves only when it is posted."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "pending approval"
        POSTED = "posted", "posted"
        REJECTED = "rejected", "rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    amount = amount_field(help_text="Token base units.")
    memo = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The second admin (null for a credit posted within the threshold).",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lab", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="budget_credit_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_credit_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(status="posted", transaction__isnull=False)
                | (~Q(status="posted") & Q(transaction__isnull=True)),
                name="budget_credit_posted_has_transaction",
            ),
            # Four eyes, held by the database too.
            models.CheckConstraint(
                condition=~Q(approved_by=models.F("requested_by")),
                name="budget_credit_approver_not_requester",
            ),
        ]
        indexes = [
            models.Index(fields=["lab", "-requested_at"], name="budget_credit_lab"),
            models.Index(
                fields=["requested_at"], condition=Q(status="pending_approval"), name="budget_credit_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"credit {self.amount} to {self.lab_id} ({self.status})"


class RewardDue(models.Model):
    """A final item whose rewards are due and not yet posted: the rewards drain's pending set
    (rewards.drain). A row is written when the item becomes final (and by the missing-rewards
    sweep) and deleted in the transaction that posts the item's rewards, so a drain that fails
    half way leaves it here for the next one. One row per item, however often it is marked."""

    item = models.OneToOneField(Item, primary_key=True, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"rewards of item {self.item_id} due since {self.due_at:%Y-%m-%d %H:%M:%S}"
