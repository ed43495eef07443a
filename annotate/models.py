"""Projects, batches, items, slots, assignments and labels.

The overlap ``k`` of a project is enforced without a counter: every ordinary item is created
with ``k`` :class:`Slot` rows, an assignment claims one slot, and an item can never have more
live or submitted ordinary assignments than it has slots (a unique key on the slot of a live
assignment). Adaptive overlap adds a slot row; an expired lease frees its slot.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rlhf_platform.accounts.models import ApiKey, Lab
from rlhf_platform.experts.models import Domain, ExpertProfile


class Project(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ACTIVE = "active", "active"
        PAUSED = "paused", "paused"
        ARCHIVED = "archived", "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=200)
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="projects")
    min_level = models.PositiveSmallIntegerField(
        default=1, help_text="Lowest expertise level (1 novice .. 4 authority) that may label."
    )
    guidelines = models.TextField(blank=True, help_text="Markdown, shown to experts (sanitised).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    overlap = models.PositiveSmallIntegerField(
        default=3, help_text="k: distinct annotators per ordinary item."
    )
    max_overlap = models.PositiveSmallIntegerField(
        default=5, help_text="Upper bound for adaptive overlap on low-agreement items."
    )
    gold_rate = models.FloatField(default=0.1, help_text="Share of assignments that are gold, 0 to 0.5.")
    lease_seconds = models.PositiveIntegerField(default=900, help_text="How long a lease lasts.")
    requires_qualification = models.BooleanField(
        default=False, help_text="Experts must pass the project's qualification exam first."
    )
    label_schema = models.JSONField(help_text="What a label holds; see annotate/schema.py.")
    schema_version = models.PositiveIntegerField(default=1)
    # Quality settings (annotate/quality): gold audits and consensus.
    gold_threshold = models.FloatField(
        default=0.55,
        help_text="Gold accuracy an expert must keep: suspended from the project when the upper "
        "bound of the 95% credible interval of their gold accuracy falls below it.",
    )
    gold_min_seen = models.PositiveSmallIntegerField(
        default=8, help_text="Golds an expert must have answered before a suspension is possible."
    )
    confidence_threshold = models.FloatField(
        default=0.8, help_text="Consensus confidence (posterior probability) at which an item is final."
    )
    gold_feedback = models.BooleanField(
        default=True,
        help_text="Show experts the expected answer and explanation of the gold items they answered, "
        "once an item is retired (the gold review).",
    )
    gold_exposure_cap = models.PositiveSmallIntegerField(
        default=12,
        help_text="Annotators a gold item is served to before it is retired from the gold pool.",
    )
    senior_level = models.PositiveSmallIntegerField(
        default=3,
        db_default=3,
        help_text="Annotators of at least this level (1 novice .. 4 authority) are senior: the extra "
        "slots of an unsure item wait for them first (contested_hold_seconds), and their agreement with a "
        "consensus their own vote carried counts as right for rewards while their gold record is not bad.",
    )
    contested_hold_seconds = models.PositiveIntegerField(
        default=600,
        db_default=600,
        help_text="How long an extra slot of an unsure item waits for a senior annotator (senior_level) "
        "before anyone may take it; 0: no wait.",
    )
    export_form = models.CharField(
        max_length=16,
        choices=[("standard", "standard: strings"), ("conversational", "conversational: message lists")],
        default="standard",
        db_default="standard",
        help_text="TRL's form of the training exports (dpo, reward, ranking) unless a download asks for "
        "the other: prompts and responses as strings, or as lists of {role, content} messages.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["lab", "-created_at"], name="project_lab_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_level__gte=1, min_level__lte=4), name="project_min_level_range"
            ),
            models.CheckConstraint(
                condition=Q(senior_level__gte=1, senior_level__lte=4),
                name="project_senior_level_range",
            ),
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=20), name="project_overlap_range"
            ),
            models.CheckConstraint(
                condition=Q(max_overlap__gte=models.F("overlap")), name="project_max_overlap_ge_k"
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0, gold_rate__lte=0.5), name="project_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(lease_seconds__gte=60, lease_seconds__lte=86400), name="project_lease_range"
            ),
            models.CheckConstraint(
                condition=Q(gold_threshold__gte=0, gold_threshold__lte=1), name="project_gold_threshold_range"
            ),
            models.CheckConstraint(
                condition=Q(gold_min_seen__gte=1, gold_min_seen__lte=1000), name="project_gold_min_seen_range"
            ),
            models.CheckConstraint(
                condition=Q(confidence_threshold__gte=0.5, confidence_threshold__lte=1),
                name="project_confidence_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_exposure_cap__gte=1, gold_exposure_cap__lte=1000),
                name="project_gold_exposure_cap_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Batch(models.Model):
    """One upload of items. Ingested inline when small, by a Celery task when large."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        INGESTING = "ingesting", "ingesting"
        INGESTED = "ingested", "ingested"
        FAILED = "failed", "failed"

    class OnDuplicate(models.TextChoices):
        ERROR = "error", "error"
        SKIP = "skip", "skip"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_sha256 = models.CharField(max_length=64, help_text="Of the body: a reused key must carry it.")
    content_type = models.CharField(max_length=64)
    on_duplicate = models.CharField(max_length=8, choices=OnDuplicate.choices, default=OnDuplicate.ERROR)
    priority = models.IntegerField(default=0, help_text="Higher is served first among equals.")
    size_bytes = models.BigIntegerField(default=0)
    lines_total = models.PositiveIntegerField(null=True, blank=True)
    lines_processed = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_skipped = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 1,000 line errors.")
    created_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lab cancelled it: its unlabelled items left the queue."
    )

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="batch_project_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="batch_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"


class BatchChunk(models.Model):
    """The raw body of a queued batch, in order, kept in the database so that any worker on
    any machine can ingest it. Deleted once the batch is ingested or has failed."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="batch_chunk_seq_unique")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of batch {self.batch_id}"


class Item(models.Model):
    """One comparison: a prompt and 2 to 8 responses (a gold item also has its answer)."""

    class State(models.TextChoices):
        OPEN = "open", "open"  # collecting labels
        LABELLED = "labelled", "labelled"  # k labels in, consensus pending
        FINAL = "final", "final"
        ADJUDICATION = "adjudication", "needs adjudication"
        CANCELLED = "cancelled", "cancelled"  # its batch was cancelled before anyone started it

    id = models.BigAutoField(primary_key=True)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="Public id.")
    # No single-column indexes: (project, external_id) and (batch, state) lead with these
    # columns, and every index is paid for on each of the millions of inserts.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=200)
    prompt = models.JSONField(help_text="A string, or a chat: [{role, content}, ...].")
    responses = models.JSONField(help_text="[{id, model, text}, ...], 2 to 8.")
    metadata = models.JSONField(default=dict, blank=True)
    is_gold = models.BooleanField(default=False)
    gold = models.JSONField(null=True, blank=True, help_text="The expected answer and its tolerance.")
    # The gold pool is every item with an answer (``gold`` set): the lab's gold items
    # (``is_gold``), and ordinary items promoted to silver gold (``gold_source='silver'``,
    # annotate/quality/gold_pool.py), which stay ordinary items for their own labels.
    gold_source = models.CharField(
        max_length=8,
        choices=[("", "lab gold or none"), ("silver", "silver: promoted from a sure consensus")],
        default="",
        db_default="",
        blank=True,
    )
    gold_exposures = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Annotators this item was served to as gold."
    )
    gold_retired_at = models.DateTimeField(
        null=True, blank=True, help_text="When it reached the exposure cap: never served as gold again."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "state"], name="item_project_state"),
            models.Index(fields=["batch", "state"], name="item_batch_state"),
            models.Index(fields=["project", "id"], condition=Q(is_gold=True), name="item_gold"),
            # The gold claim: the live pool of a project, least exposed first.
            models.Index(
                fields=["project", "gold_exposures", "id"],
                condition=Q(gold__isnull=False, gold_retired_at__isnull=True),
                name="item_gold_live",
            ),
            # The adjudication queue across projects (few rows; the partial index stays tiny).
            models.Index(fields=["created_at"], condition=Q(state="adjudication"), name="item_adjudication"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_external_id_unique"),
            models.CheckConstraint(
                condition=Q(is_gold=False, gold__isnull=True)
                | Q(is_gold=True, gold__isnull=False, gold_source="")
                | Q(is_gold=False, gold__isnull=False, gold_source="silver"),
                name="item_gold_has_answer",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Slot(models.Model):
    """One of an item's ``k`` places for an independent label.

    A slot is ``waiting`` until the one before it is taken, then ``open``, ``leased`` while an
    assignment holds it, ``filled`` once labelled. Opening slots one after another lets the
    queue serve items closest to completion first through one partial index (highest open
    ``idx`` first) without any counter.
    """

    class State(models.TextChoices):
        WAITING = "waiting", "waiting"
        OPEN = "open", "open"
        LEASED = "leased", "leased"
        FILLED = "filled", "filled"
        CLOSED = "closed", "closed"  # its item's batch was cancelled: never offered again

    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="slots", db_index=False)
    # A copy of item.project for the queue's index, written only with the item's own value at
    # ingest. No constraint or index of its own: the item's foreign key already guarantees it,
    # and a slot is inserted k times per item.
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    idx = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    priority = models.IntegerField(default=0)
    reserved_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An extra slot of an unsure item: until then only annotators of the project's "
        "senior_level may take it.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "idx"], name="slot_item_idx_unique")]
        indexes = [
            # The queue's "next": open slots of a project, most advanced item first, then
            # batch priority, then oldest item.
            models.Index(
                "project",
                models.F("idx").desc(),
                models.F("priority").desc(),
                "item",
                condition=Q(state="open"),
                name="slot_open_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"slot {self.idx} of item {self.item_id} ({self.state})"


class Assignment(models.Model):
    """An item handed to an expert under a lease."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        SUBMITTED = "submitted", "submitted"
        EXPIRED = "expired", "expired"
        SKIPPED = "skipped", "skipped"
        RELEASED = "released", "released"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="assignments")
    slot = models.ForeignKey(
        Slot, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments"
    )
    is_gold = models.BooleanField(default=False)
    shown_order = models.JSONField(help_text="Canonical response indexes in the order shown (A, B, ...).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    leased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=500, blank=True, help_text="Why it was skipped or released.")

    class Meta:
        constraints = [
            # Nobody gets the same item twice (a label, a skip or a gold item alike).
            models.UniqueConstraint(fields=["item", "expert"], name="assignment_item_expert_unique"),
            # A slot has at most one live or submitted assignment: no item exceeds k.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status__in=["active", "submitted"]),
                name="assignment_one_live_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=True, slot__isnull=True) | Q(is_gold=False, slot__isnull=False),
                name="assignment_gold_has_no_slot",
            ),
            # One live lease per expert and project: two "next" clicks at the same moment
            # cannot leave an expert holding two items.
            models.UniqueConstraint(
                fields=["project", "expert"],
                condition=Q(status="active"),
                name="assignment_one_active_per_expert",
            ),
        ]
        indexes = [
            models.Index(fields=["expert", "status"], name="assignment_expert_status"),
            models.Index(fields=["status", "expires_at"], name="assignment_status_expiry"),
            models.Index(fields=["project", "expert", "is_gold"], name="assignment_project_expert"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


class Label(models.Model):
    """What an expert submitted, mapped back to the canonical order of the responses."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="label")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="labels")
    client_id = models.CharField(
        max_length=100, help_text="Client-generated id: a retry is not a second label."
    )
    is_gold = models.BooleanField(default=False)
    choice = models.CharField(
        max_length=16, blank=True, help_text="Pairwise: A or B (canonical responses 0 and 1), tie, both_bad."
    )
    strength = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1-based level of the scale."
    )
    ranking = models.JSONField(
        null=True, blank=True, help_text="Ranking: groups of tied canonical response ids, best first."
    )
    criteria = models.JSONField(default=dict, blank=True, help_text="{response id: {criterion key: rating}}")
    rationale = models.TextField(blank=True)
    active_seconds = models.FloatField(null=True, blank=True, help_text="Client-reported active time.")
    lease_seconds = models.FloatField(help_text="Server-side time from lease to submit.")
    schema_version = models.PositiveIntegerField()
    excluded_from_consensus = models.BooleanField(
        default=False, help_text="Left out of consensus (e.g. after a suspension); kept, never deleted."
    )
    excluded_by = models.ForeignKey(
        "ProjectSuspension",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # read with the expert's labels of a project, never on its own
        help_text="The suspension that excluded the label: reinstating it restores (or pays) "
        "exactly these, not those of an earlier suspension that was upheld.",
    )
    gold_passed = models.BooleanField(
        null=True, blank=True, help_text="A graded gold label: within the tolerance bands. None: not gold."
    )
    silver_passed = models.BooleanField(
        null=True,
        blank=True,
        help_text="Silver evidence for the suspension test: when the item became final, whether this label "
        "matched the choice of the item's consensus without it. None: not silver evidence.",
    )
    silver_support = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Silver evidence: the posterior of this label's answer in the item's consensus without it, "
        "in tenths (0 to 10), when the item became final; the suspension test's step is computed from it. "
        "None: not silver evidence.",
    )
    loo_choice = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="The item's consensus choice without this label, when the item became final (pairwise, "
        "with the project's model): a label that agrees with the consensus was pivotal when this differs. "
        "Empty: not computed.",
    )
    quality_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the after-submit quality step took this label into account (once: it is idempotent).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "expert"], name="label_item_expert_unique"),
            models.UniqueConstraint(fields=["expert", "client_id"], name="label_client_id_unique"),
            models.CheckConstraint(condition=Q(silver_support__lte=10), name="label_silver_support_range"),
        ]
        indexes = [
            models.Index(fields=["project", "created_at"], name="label_project_created"),
            models.Index(fields=["item"], name="label_item"),
            # The quality drain's queue: labels whose after-submit step has not run yet.
            models.Index(
                fields=["created_at"], condition=Q(quality_at__isnull=True), name="label_quality_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"label {self.pk}"


class ItemReport(models.Model):
    """An expert's report of a problem in an item's content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="reports")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reports")
    reason = models.CharField(max_length=32)
    details = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"report on item {self.item_id}: {self.reason}"


class ItemConsensus(models.Model):
    """The consensus of an item's labels, written by the quality step (one row per item,
    replaced on each recompute). Exports read it; until it exists their consensus fields are
    empty rather than guessed."""

    item = models.OneToOneField(Item, primary_key=True, on_delete=models.CASCADE, related_name="consensus")
    method = models.CharField(max_length=32, help_text="e.g. majority, dawid_skene, davidson.")
    choice = models.CharField(max_length=16, blank=True, help_text="Pairwise: A, B, tie or both_bad.")
    strength = models.FloatField(null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True, help_text="Groups of tied response ids, best first.")
    confidence = models.FloatField(help_text="Posterior probability of the consensus, 0 to 1.")
    agreement = models.FloatField(null=True, blank=True)
    label_count = models.PositiveIntegerField()
    posterior = models.JSONField(
        null=True, blank=True, help_text="Pairwise: posterior probability of each choice."
    )
    computed_at = models.DateTimeField(default=timezone.now)
    revisions = models.JSONField(
        null=True,
        blank=True,
        help_text="Changes to a consensus delivered final: what it was, what it is, when and why.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="consensus_confidence_range"
            ),
        ]

    def __str__(self) -> str:
        return f"consensus of item {self.item_id}"


class LabelRevision(models.Model):
    """A value an expert's label held before they corrected it (annotate/label_revisions.py):
    one row per correction, numbered from 1, never changed or deleted. The label itself holds
    the latest value; these rows are its history."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (label, number) leads with it.
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="revisions", db_index=False)
    number = models.PositiveSmallIntegerField(help_text="1 for the first correction.")
    choice = models.CharField(max_length=16, blank=True)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    criteria = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    schema_version = models.PositiveIntegerField()
    gold_passed = models.BooleanField(null=True, blank=True, help_text="The grade the value had (gold).")
    valued_at = models.DateTimeField(help_text="When this value was given.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When it was replaced.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["label", "number"], name="label_revision_number_unique"),
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of label {self.label_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("A label's history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("A label's history is append-only.")


# --- Quality (annotate/quality): reputation, suspensions, the project's fitted model -----------


class AnnotatorQuality(models.Model):
    """An expert's quality in one project, kept up to date label by label (never by recomputing
    the project): gold audits, agreement with final consensus, speed and position counters,
    and the flags and status derived from them. ``manage.py recompute_quality`` rebuilds it."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        WARNED = "warned", "warned"  # gold accuracy's posterior mean below the threshold
        SUSPENDED = "suspended", "suspended"

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotator_quality")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="project_quality")
    labels = models.PositiveIntegerField(default=0, help_text="Labels submitted (gold included).")
    gold_passed = models.PositiveIntegerField(default=0)
    gold_failed = models.PositiveIntegerField(default=0)
    last_gold_passed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Time of the last passed gold audit (suspension excludes labels after it).",
    )
    # A reinstatement starts a fresh record for the suspension rule: it counts golds after these.
    gold_passed_at_reinstatement = models.PositiveIntegerField(default=0)
    gold_failed_at_reinstatement = models.PositiveIntegerField(default=0)
    # The suspension test (annotate/quality/cusum.py): the CUSUM's value in units of 0.01 nat,
    # the first label of its current excursion (the change point), and the evidence since the
    # last reset (reinstatement).
    suspend_statistic = models.PositiveIntegerField(default=0)
    suspend_since = models.DateTimeField(null=True, blank=True)
    suspend_events = models.PositiveIntegerField(default=0)
    agreement_hits = models.PositiveIntegerField(
        default=0, help_text="Labels on final items that match the final consensus."
    )
    agreement_total = models.PositiveIntegerField(default=0, help_text="Labels on final items.")
    active_seconds_sum = models.FloatField(default=0)
    active_seconds_count = models.PositiveIntegerField(default=0)
    pairwise_labels = models.PositiveIntegerField(default=0, help_text="Pairwise A/B choices.")
    first_shown_choices = models.PositiveIntegerField(
        default=0, help_text="Of those, how many picked the response shown first."
    )
    flags = models.JSONField(default=list, blank=True, help_text="e.g. position_bias, fast.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "expert"], name="annotator_quality_unique"),
        ]
        indexes = [models.Index(fields=["expert"], name="annotator_quality_expert")]

    def __str__(self) -> str:
        return f"quality of {self.expert_id} in {self.project_id}"


class ProjectSuspension(models.Model):
    """An expert suspended from one project by the gold rule (or by staff). While ``active``,
    the gate ``suspended_in_project`` refuses them work there. The expert may appeal once;
    staff reinstate (``active`` off) or uphold."""

    class Appeal(models.TextChoices):
        NONE = "", "not appealed"
        PENDING = "pending", "pending"
        UPHELD = "upheld", "upheld"
        REINSTATED = "reinstated", "reinstated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suspensions")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="project_suspensions")
    active = models.BooleanField(default=True)
    reason = models.CharField(max_length=32, help_text="gold_accuracy, or staff.")
    details = models.JSONField(default=dict, blank=True, help_text="The evidence: gold standing at the time.")
    excluded_labels = models.PositiveIntegerField(default=0)
    released_leases = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    appeal = models.CharField(max_length=16, choices=Appeal.choices, default=Appeal.NONE, blank=True)
    appeal_text = models.TextField(blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "expert"], condition=Q(active=True), name="suspension_one_active"
            ),
        ]
        indexes = [
            models.Index(fields=["expert", "project"], name="suspension_expert_project"),
            models.Index(fields=["appeal"], condition=Q(appeal="pending"), name="suspension_appeal_pending"),
        ]

    def __str__(self) -> str:
        return f"suspension of {self.expert_id} in {self.project_id}"


class ProjectQualityModel(models.Model):
    """The reliability model fitted over a project's labels (Dawid-Skene for the pairwise
    choice), written by the periodic fit and read by each per-item update."""

    project = models.OneToOneField(
        Project, primary_key=True, on_delete=models.CASCADE, related_name="quality_model"
    )
    method = models.CharField(max_length=32, default="dawid_skene")
    parameters = models.JSONField(help_text="DawidSkeneModel.to_json(): classes, priors, confusions.")
    label_count = models.PositiveIntegerField(help_text="Labels the fit saw.")
    fitted_at = models.DateTimeField(default=timezone.now)
    fit_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"quality model of {self.project_id}"


# Suspected groups of annotators (annotate/quality/groups.py), in their own module.
from annotate.models_groups import AnnotatorGroup, AnnotatorGroupMember  # noqa: E402, F401
