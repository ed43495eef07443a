"""Suspected groups of annotators in a project: accounts that the evidence says act as one
(a copy ring, or one person's accounts). Imported by :mod:`annotate.models`.

The detection (:mod:`annotate.quality.groups`) creates and grows a group while it is
``suspected``; staff decide it once for all its members: ``confirmed`` (their labels in the
project are excluded, like a suspension, and nothing is paid for them) or ``cleared`` (their
held rewards are posted). A group merged into another by the detection is ``merged``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from rlhf_platform.experts.models import ExpertProfile


class AnnotatorGroup(models.Model):
    class Status(models.TextChoices):
        SUSPECTED = "suspected", "suspected"
        CONFIRMED = "confirmed", "confirmed"
        CLEARED = "cleared", "cleared"
        MERGED = "merged", "merged"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="annotator_groups")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUSPECTED)
    signals = models.JSONField(
        default=list,
        blank=True,
        help_text="The signals behind its edges: agreement, group_agreement, timing, credential, "
        "fingerprint.",
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="Its edges, each with the signals' scores, shared items, hashed fingerprints and file "
        "hashes (never an address or a user agent), and the thresholds in force.",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "status"], name="annotatorgroup_project_status")]

    def __str__(self) -> str:
        return f"group {self.pk} in {self.project_id} ({self.status})"


class AnnotatorGroupMember(models.Model):
    """An account in a group. ``labels_at_flag``: its labels in the project when it joined the
    group (how much work it did before it was flagged)."""

    group = models.ForeignKey(AnnotatorGroup, on_delete=models.CASCADE, related_name="members")
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="+")
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="annotator_groups")
    labels_at_flag = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "expert"], name="annotatorgroupmember_unique"),
        ]
        indexes = [models.Index(fields=["project", "expert"], name="groupmember_project_expert")]

    def __str__(self) -> str:
        return f"{self.expert_id} in {self.group_id}"
