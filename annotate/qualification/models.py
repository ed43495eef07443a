"""Exams, their questions, attempts and the qualifications that passing grants.

An exam belongs to one project or to one domain (exactly one: a database check). Its questions
are copies of gold items (prompt, responses and expected answer) taken when the exam is made,
so a lab editing or deleting its batch later does not change an exam someone is taking; a
question made from one of the project's gold items keeps a link to it (``source_item``), which
is how the exam keeps that item out of the same expert's queue (see ``services``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotate.models import Item, Project
from rlhf_platform.accounts.models import ApiKey
from rlhf_platform.experts.models import Domain, ExpertProfile


class Exam(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="exams"
    )
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="exams")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Markdown shown before and during the exam.")
    label_schema = models.JSONField(
        help_text="The schema answers follow (the project's, for a project exam)."
    )
    pass_mark = models.FloatField(default=0.8, help_text="Share of questions to get right, 0 to 1.")
    retry_delay_seconds = models.PositiveIntegerField(
        default=86_400, help_text="Wait after a failed attempt before the next one."
    )
    max_questions = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Questions per attempt (default: all of them)."
    )
    is_active = models.BooleanField(default=True, help_text="Only the active exam of a project is offered.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=False, domain__isnull=True)
                | Q(project__isnull=True, domain__isnull=False),
                name="exam_project_xor_domain",
            ),
            models.CheckConstraint(
                condition=Q(pass_mark__gt=0, pass_mark__lte=1), name="exam_pass_mark_range"
            ),
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_active=True), name="exam_one_active_per_project"
            ),
            models.UniqueConstraint(
                fields=["domain"], condition=Q(is_active=True), name="exam_one_active_per_domain"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExamQuestion(models.Model):
    id = models.BigAutoField(primary_key=True)
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(help_text="Order in the exam, from 0.")
    source_item = models.ForeignKey(
        Item,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The project gold item this question was copied from, if any.",
    )
    prompt = models.JSONField()
    responses = models.JSONField(help_text="[{id, model, text}, ...] in canonical order.")
    gold = models.JSONField(help_text="The expected answer with its tolerance (as an item's gold).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exam", "position"], name="exam_question_position_unique"),
        ]

    def __str__(self) -> str:
        return f"question {self.position} of {self.exam_id}"


class ExamAttempt(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="attempts")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="exam_attempts")
    question_ids = models.JSONField(help_text="ExamQuestion ids of this attempt, in the order asked.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    correct = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveSmallIntegerField()
    score = models.FloatField(null=True, blank=True, help_text="correct / total, once finished.")
    passed = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            # Two "start" clicks at once cannot open two attempts.
            models.UniqueConstraint(
                fields=["exam", "expert"], condition=Q(finished_at__isnull=True), name="exam_one_open_attempt"
            ),
        ]
        indexes = [models.Index(fields=["exam", "expert", "-started_at"], name="exam_attempt_expert")]

    def __str__(self) -> str:
        return f"attempt {self.pk} at {self.exam_id}"


class ExamAnswer(models.Model):
    """One question as shown in an attempt (created when shown, with its shuffled order) and,
    once answered, the answer in canonical terms and whether it was right."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    attempt = models.ForeignKey(ExamAttempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(ExamQuestion, on_delete=models.CASCADE, related_name="answers")
    position = models.PositiveSmallIntegerField()
    shown_order = models.JSONField()
    shown_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    choice = models.CharField(max_length=16, blank=True)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    criteria = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    active_seconds = models.FloatField(null=True, blank=True)
    correct = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attempt", "position"], name="exam_answer_position_unique"),
        ]

    def __str__(self) -> str:
        return f"answer {self.position} of {self.attempt_id}"


class Qualification(models.Model):
    """An expert's eligibility for a project, or for every project of a domain and below it.
    Granted by passing an exam; staff may revoke it (audited); revoked rows are kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="qualifications")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="qualifications"
    )
    domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="qualifications"
    )
    attempt = models.OneToOneField(
        ExamAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="qualification"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=False, domain__isnull=True)
                | Q(project__isnull=True, domain__isnull=False),
                name="qualification_project_xor_domain",
            ),
            models.UniqueConstraint(
                fields=["expert", "project"],
                condition=Q(revoked_at__isnull=True, project__isnull=False),
                name="qualification_one_valid_per_project",
            ),
            models.UniqueConstraint(
                fields=["expert", "domain"],
                condition=Q(revoked_at__isnull=True, domain__isnull=False),
                name="qualification_one_valid_per_domain",
            ),
        ]

    def __str__(self) -> str:
        return f"qualification {self.pk}"
