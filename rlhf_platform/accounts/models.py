"""Users, labs, lab membership and lab API keys."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True, staff_role=User.StaffRole.ADMIN)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by e-mail.

    Roles are not exclusive flags on one field: a person is an *expert* when they have an
    expert profile, a *lab member* through :class:`LabMembership`, and *staff* when
    ``staff_role`` is set (reviewers verify credentials; admins also run payouts and manage
    staff).
    """

    class StaffRole(models.TextChoices):
        NONE = "", "not staff"
        REVIEWER = "reviewer", "reviewer"
        ADMIN = "admin", "admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True, help_text="Log-in name, stored lower-case.")
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="May use the Django admin and staff pages (set with staff_role)."
    )
    staff_role = models.CharField(
        max_length=16, choices=StaffRole.choices, default=StaffRole.NONE, blank=True
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(staff_role="") | models.Q(is_staff=True),
                name="user_staff_role_needs_is_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_reviewer(self) -> bool:
        """Platform staff: holds ``staff.view`` in the role table (reviewers, admins)."""
        from rlhf_platform.accounts.roles import Action, principal_may

        return principal_may(self, Action.STAFF_VIEW)

    @property
    def is_platform_admin(self) -> bool:
        """Moves money: holds ``payout.run_approve`` in the role table (admins)."""
        from rlhf_platform.accounts.roles import Action, principal_may

        return principal_may(self, Action.PAYOUT_RUN_APPROVE)


class Lab(models.Model):
    """An AI lab: the customer that uploads comparisons and pays for labels."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(User, through="LabMembership", related_name="labs")

    def __str__(self) -> str:
        return self.name


class LabMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "owner"
        MEMBER = "member", "member"

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="lab_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "user"], name="lab_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.lab} ({self.role})"


class ApiKey(models.Model):
    """A lab's API key. The secret is shown once at creation and stored only as a hash.

    The key reads ``rlhf_<prefix>_<secret>``; ``prefix`` is stored in clear so that a key can be
    found by index and recognised in lists, and the SHA-256 of the whole key is compared in
    constant time. A fast hash is right here (unlike for passwords): the secret is 32 random
    bytes, so there is nothing to guess.
    """

    class Scope(models.TextChoices):
        READ = "read", "read"
        WRITE = "write", "write"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'ingest pipeline'.")
    prefix = models.CharField(max_length=16, unique=True, help_text="Visible part of the key.")
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the whole key, hex.")
    scopes = models.JSONField(default=list, help_text="Subset of ['read', 'write'].")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lab", "-created_at"], name="apikey_lab_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class LoginFingerprint(models.Model):
    """One successful log-in, as keyed hashes only (``rlhf_platform.accounts.fingerprints``):
    ``device`` of the client address and user agent together, ``network`` of the address
    alone. Never the address or the user agent. Kept ``LOGIN_FINGERPRINT_RETENTION_DAYS``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_fingerprints")
    device = models.CharField(max_length=64)
    network = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["device"], name="loginfingerprint_device"),
            models.Index(fields=["user", "created_at"], name="loginfingerprint_user"),
            models.Index(fields=["created_at"], name="loginfingerprint_created"),
        ]

    def __str__(self) -> str:
        return f"log-in of {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """A notification kept in its person's inbox (:mod:`rlhf_platform.accounts.inbox`): every
    event pushed to one person through ``notify_on_commit`` is stored here in the same
    transaction, then pushed live. ``message`` and ``link`` are fixed when it is sent; the newest
    ``INBOX_KEEP`` per person are kept."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=64, help_text="The event's type, e.g. quality.warning.")
    message = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="The event as pushed.")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="notification_user_newest"),
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="notification_user_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"
