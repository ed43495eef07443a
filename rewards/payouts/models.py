"""Wallets, Sign-In with Ethereum nonces, payout runs, their transactions and lines.

A payout transaction is a small state machine, persisted before each side effect::

    planned -> signed -> broadcast -> confirmed
        \\          \\          \\-----> reverted   (mined with status 0: amounts back to payable)
         \\          \\----------------> failed     (provably never mined: amounts back)
          \\---------------------------> failed     (would revert / nothing to pay / the chain is not
                                                    the recorded one / nonce conflict: never signed)

After a chain reset, an admin's re-bind (``chain_rebind``) turns every transaction the new chain
does not know into ``failed``, a confirmed one included, and puts its amounts back to payable.

``signed`` means the raw signed transaction, its hash and its nonce are stored and every line's
amount is reserved in the ledger (payable -> in flight), all in one database transaction, before
anything is sent. From then on only those exact bytes are ever broadcast.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rewards.fields import TokenAmountField
from rlhf_platform.experts.models import ExpertProfile


class Wallet(models.Model):
    """The address an expert is paid at. One per expert, and an address belongs to one expert.

    ``address`` is the EIP-55 checksum form; ``address_lower`` carries the uniqueness so that
    the same address in another capitalisation is the same wallet."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.OneToOneField(ExpertProfile, on_delete=models.PROTECT, related_name="wallet")
    address = models.CharField(max_length=42)
    address_lower = models.CharField(max_length=42, unique=True, editable=False)
    chain_id = models.BigIntegerField(help_text="The chain id the linking message named.")
    message = models.TextField(help_text="The EIP-4361 message the expert signed.")
    signature = models.CharField(max_length=132)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(address_lower__regex=r"^0x[0-9a-f]{40}$"), name="wallet_address_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.expert_id})"

    def save(self, *args, **kwargs):
        self.address_lower = self.address.lower()
        super().save(*args, **kwargs)


class WalletNonce(models.Model):
    """A Sign-In with Ethereum message the server issued. Its nonce is used at most once:
    ``used_at`` is set by a conditional UPDATE, so two submissions of one signature cannot
    both link."""

    id = models.BigAutoField(primary_key=True)
    nonce = models.CharField(max_length=32, unique=True)
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=42)
    message = models.TextField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expert", "issued_at"], name="walletnonce_expert")]

    def __str__(self) -> str:
        return f"{self.nonce} for {self.address}"


class PayoutRun(models.Model):
    """One settlement of payable balances, planned in lines and transactions.

    ``pending_approval -> running -> completed``, or ``pending_approval -> cancelled``. A run a
    person starts waits for another admin's approval (four eyes); a scheduled run starts at
    once when its total is within ``PAYOUT_UNATTENDED_MAX_TOTAL`` and waits like any other
    otherwise. Nothing of a pending run is reserved or signed."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "pending approval"
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        CANCELLED = "cancelled", "cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        STAFF = "staff", "staff"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The admin who approved a run that waited for approval; never its creator.",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    min_amount = TokenAmountField()
    chain_id = models.BigIntegerField()
    chain_key = models.CharField(
        max_length=64, help_text="The chain id, or for an in-process chain its id and instance."
    )
    payer = models.CharField(max_length=42)
    token = models.CharField(max_length=42)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One run at a time: two runs would plan the same balances.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="payout_one_running_run"
            ),
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="pending_approval"), name="payout_one_pending_run"
            ),
            # Four eyes, held by the database too.
            models.CheckConstraint(
                condition=~Q(approved_by=models.F("created_by")), name="payout_run_approver_not_creator"
            ),
        ]

    def __str__(self) -> str:
        return f"payout run {self.pk} ({self.status})"


class PayoutTransaction(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "planned"
        SIGNED = "signed", "signed"
        BROADCAST = "broadcast", "broadcast"
        CONFIRMED = "confirmed", "confirmed"
        REVERTED = "reverted", "reverted"
        FAILED = "failed", "failed"

    TERMINAL = (Status.CONFIRMED, Status.REVERTED, Status.FAILED)
    IN_FLIGHT = (Status.SIGNED, Status.BROADCAST)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="transactions")
    seq = models.PositiveIntegerField(help_text="Order within the run.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    payer = models.CharField(max_length=42)
    chain_id = models.BigIntegerField()
    chain_key = models.CharField(max_length=64)
    nonce = models.BigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, null=True, blank=True, unique=True)
    raw_tx = models.TextField(blank=True, help_text="The signed transaction, stored before broadcast.")
    gas_limit = models.BigIntegerField(null=True, blank=True)
    gas_used = models.BigIntegerField(null=True, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    broadcast_attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)
    broadcast_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="payout_tx_seq_unique"),
            # A nonce is used by one transaction of ours, unless that one provably never mined.
            models.UniqueConstraint(
                fields=["chain_key", "payer", "nonce"],
                condition=Q(nonce__isnull=False) & ~Q(status="failed"),
                name="payout_tx_nonce_unique",
            ),
            models.CheckConstraint(
                condition=Q(status="planned")
                | Q(status="failed", nonce__isnull=True)
                | (Q(nonce__isnull=False, tx_hash__isnull=False) & ~Q(raw_tx="")),
                name="payout_tx_signed_has_bytes",
            ),
        ]

    def __str__(self) -> str:
        return f"payout tx {self.seq} of run {self.run_id} ({self.status}, nonce {self.nonce})"


class PayoutLine(models.Model):
    """One expert's amount in one transaction. Its id is the ledger reference of the payout."""

    class Status(models.TextChoices):
        PLANNED = "planned", "planned"
        RESERVED = "reserved", "reserved (in flight)"
        PAID = "paid", "paid"
        RETURNED = "returned", "returned to payable"
        DROPPED = "dropped", "dropped before signing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="lines")
    transaction = models.ForeignKey(PayoutTransaction, on_delete=models.PROTECT, related_name="lines")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.PROTECT, related_name="payout_lines")
    address = models.CharField(max_length=42)
    amount = TokenAmountField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["transaction", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "expert"], name="payout_line_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} to {self.address} ({self.status})"

    @property
    def reference(self) -> str:
        return str(self.id)


class ChainIdentity(models.Model):
    """The chain the payout records are bound to: recorded when payouts first use the chain,
    checked at start-up, in ``/healthz`` and before every payout run.

    A development node that restarts keeps its chain id (and even the token's address) but
    loses every block: only the genesis hash, the token's code and its deployment block tell
    the new chain from the old. One identity is ``current``; a staff re-bind after a reset
    retires it (``rewards.payouts.chain_identity``)."""

    class Status(models.TextChoices):
        CURRENT = "current", "current"
        RETIRED = "retired", "retired"

    id = models.BigAutoField(primary_key=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.CURRENT)
    chain_id = models.BigIntegerField()
    genesis_hash = models.CharField(max_length=66, help_text="Hash of block 0.")
    token_address = models.CharField(max_length=42)
    token_code_hash = models.CharField(max_length=66, help_text="keccak256 of the token's code.")
    token_deploy_block = models.BigIntegerField(
        null=True, blank=True, help_text="The block that deployed the token (unknown on a pruned node)."
    )
    token_deploy_block_hash = models.CharField(max_length=66, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="current"), name="chain_identity_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"chain {self.chain_id} genesis {self.genesis_hash[:12]} ({self.status})"


class OutsideTransfer(models.Model):
    """A transaction of the payer's key made outside the platform (a top-up, a manual payment, a
    transaction that took a payout's nonce), acknowledged by staff with a reason. Reconciliation
    counts its token transfers as explained instead of reporting them forever."""

    id = models.BigAutoField(primary_key=True)
    chain_identity = models.ForeignKey(ChainIdentity, on_delete=models.PROTECT, related_name="+")
    tx_hash = models.CharField(max_length=66)
    block_number = models.BigIntegerField()
    transfers = models.JSONField(
        help_text="The token's Transfer events from the payer in it: [{receiver, value (string)}]."
    )
    reason = models.TextField(help_text="Why this transfer was made outside the platform.")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["chain_identity", "tx_hash"], name="outside_transfer_once"),
        ]

    def __str__(self) -> str:
        return f"outside transfer {self.tx_hash}"
