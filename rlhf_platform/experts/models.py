"""Domains, expert profiles and credentials.

An expert's level in a domain is not stored: it is derived from approved, unexpired
credentials by the selectors (``expertise_level``, ``experts_eligible``), so an expired
credential stops counting at its expiry date without any job having to run, and no stored
level can drift from the credentials behind it.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Domain(models.Model):
    """A node of the domain taxonomy (medicine > cardiology). Staff manage it.

    ``path`` is the slugs from the root joined by ``/`` (``medicine/cardiology``), kept by
    the service that saves a domain, so that "this domain or any below it" is one indexed
    prefix query.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=500, unique=True, editable=False)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="domain_slug_unique_in_parent"),
            models.UniqueConstraint(
                fields=["slug"], condition=models.Q(parent__isnull=True), name="domain_root_slug_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.path.replace("/", " > ")

    def ancestor_paths(self) -> list[str]:
        parts = self.path.split("/")
        return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def private_storage():
    """The storage for files no URL serves (settings.STORAGES["private"])."""
    return storages["private"]


def _pseudonym() -> str:
    return "exp_" + secrets.token_hex(6)


class ExpertProfile(models.Model):
    """What an expert tells about themselves. Labs see only ``pseudonym``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expert_profile"
    )
    pseudonym = models.CharField(
        max_length=20,
        unique=True,
        default=_pseudonym,
        editable=False,
        help_text="Stable public name in lab exports.",
    )
    bio = models.TextField(blank=True, max_length=5000)
    links = models.JSONField(
        default=list, blank=True, help_text="Public links: [{kind: orcid|linkedin|website|..., url}]"
    )
    claimed_domains = models.ManyToManyField(Domain, blank=True, related_name="+")
    suspended_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when staff suspend the expert platform-wide."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.pseudonym} ({self.user})"


class Level(models.IntegerChoices):
    NOVICE = 1, "novice"
    PRACTITIONER = 2, "practitioner"
    EXPERT = 3, "expert"
    AUTHORITY = 4, "authority"


class Credential(models.Model):
    class Kind(models.TextChoices):
        DEGREE = "degree", "degree"
        LICENCE = "licence", "licence"
        CERTIFICATION = "certification", "certification"
        PUBLICATION = "publication", "publication"
        EMPLOYMENT = "employment", "employment"

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "submitted"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        EXPIRED = "expired", "expired"
        REVOKED = "revoked", "revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="credentials")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="credentials")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200, help_text="e.g. 'MD', 'PhD in Mathematics'.")
    issuer = models.CharField(max_length=200, help_text="Who issued it: university, board, employer.")
    identifier = models.CharField(
        max_length=200, blank=True, help_text="Licence number, DOI, certificate id..."
    )
    issued_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    evidence = models.FileField(
        storage=private_storage,
        upload_to="evidence/%Y/%m/",
        null=True,
        blank=True,
        help_text="Stored privately; served only to the owner and staff.",
    )
    evidence_name = models.CharField(max_length=255, blank=True, help_text="Original file name.")
    evidence_content_type = models.CharField(max_length=100, blank=True)
    evidence_size = models.PositiveIntegerField(null=True, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    level = models.PositiveSmallIntegerField(
        choices=Level.choices,
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text="Expertise level this credential proves; set by the reviewer on approval.",
    )
    decision_reason = models.TextField(blank=True, help_text="Why it was rejected or revoked.")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="credential_status_created"),
            models.Index(fields=["domain", "status", "level"], name="credential_domain_level"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="approved") | models.Q(level__isnull=False),
                name="credential_approved_has_level",
            ),
            models.CheckConstraint(
                condition=models.Q(level__isnull=True) | models.Q(level__gte=1, level__lte=4),
                name="credential_level_range",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_on__isnull=True) | models.Q(expires_on__gte=models.F("issued_on")),
                name="credential_expires_after_issued",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(decision_reason=""),
                name="credential_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.kind}, {self.status})"


# Which status may follow which. Only staff (and, for expiry, the system) move credentials.
CREDENTIAL_TRANSITIONS: dict[str, set[str]] = {
    Credential.Status.SUBMITTED: {Credential.Status.APPROVED, Credential.Status.REJECTED},
    Credential.Status.APPROVED: {Credential.Status.REVOKED, Credential.Status.EXPIRED},
    Credential.Status.REJECTED: set(),
    Credential.Status.EXPIRED: set(),
    Credential.Status.REVOKED: set(),
}

# The level a reviewer is offered by default for each kind; the reviewer decides.
DEFAULT_LEVEL_BY_KIND = {
    Credential.Kind.DEGREE: Level.EXPERT,
    Credential.Kind.LICENCE: Level.EXPERT,
    Credential.Kind.CERTIFICATION: Level.PRACTITIONER,
    Credential.Kind.PUBLICATION: Level.PRACTITIONER,
    Credential.Kind.EMPLOYMENT: Level.PRACTITIONER,
}
