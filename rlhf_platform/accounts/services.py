"""Every change of state to users, labs and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rlhf_platform.accounts.login_throttle import signup_attempt_count
from rlhf_platform.accounts.models import ApiKey, Lab, LabMembership, User
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

API_KEY_PREFIX = "rlhf"
# last_used_at is written at most this often per key, so that a busy key does not turn every
# request into a write.
API_KEY_LAST_USED_RESOLUTION = timedelta(seconds=60)


def user_signup(*, email: str, password: str, full_name: str = "", address: str | None = None) -> User:
    """Create an expert account: the user and an empty expert profile. ``address``: the client
    address of a sign-up from outside (the page, the API), counted against ``SIGNUPS_PER_HOUR``
    first (429 ``signup_throttled``, rlhf_platform/accounts/login_throttle.py)."""
    from rlhf_platform.experts.services import expert_profile_ensure

    if address is not None:
        signup_attempt_count(address=address)
    email = User.objects.normalize_email(email or "").strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ApplicationError(
            "An account with this e-mail address already exists.", code="unique", field="email"
        )
    user = User(email=email, full_name=full_name.strip())
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from exc
    user.set_password(password)
    # Uniqueness is checked above for the message and decided below by the unique index; a
    # second check here would only race with a concurrent sign-up and answer it less clearly.
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            user.save()
            expert_profile_ensure(user=user)
            audit_record(action="user.signup", target=user, actor=user, data={"email": email})
    except IntegrityError as exc:
        # Two sign-ups with one e-mail at the same moment: the unique index decides.
        raise ApplicationError(
            "An account with this e-mail address already exists.", code="unique", field="email"
        ) from exc
    return user


@transaction.atomic
def lab_create(*, name: str, slug: str, owner: User, actor: User | None = None) -> Lab:
    lab = Lab(name=name, slug=slug)
    lab.full_clean()
    lab.save()
    LabMembership.objects.create(lab=lab, user=owner, role=LabMembership.Role.OWNER)
    audit_record(action="lab.create", target=lab, actor=actor or owner, data={"owner": str(owner.pk)})
    return lab


@transaction.atomic
def lab_member_add(*, lab: Lab, user: User, role: str, actor: User | None) -> LabMembership:
    if role not in LabMembership.Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", code="invalid_choice", field="role")
    membership, created = LabMembership.objects.get_or_create(lab=lab, user=user, defaults={"role": role})
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(action="lab.member_add", target=lab, actor=actor, data={"user": str(user.pk), "role": role})
    return membership


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _validate_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise ApplicationError("Give at least one scope.", code="required", field="scopes")
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if unknown:
        raise ApplicationError(
            f"Unknown scope(s): {', '.join(unknown)}. Use read and/or write.",
            code="invalid_choice",
            field="scopes",
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(*, lab: Lab, name: str, scopes: list[str], actor: User | None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never available again."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Name the key (what it is for).", code="required", field="name")
    scopes = _validate_scopes(scopes)
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(
        lab=lab,
        name=name[:100],
        prefix=prefix,
        key_hash=_hash_key(raw_key),
        scopes=scopes,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    api_key.full_clean()
    api_key.save()
    audit_record(
        action="api_key.create",
        target=api_key,
        actor=actor,
        data={"lab": str(lab.pk), "prefix": prefix, "scopes": scopes},
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None, by_key: ApiKey | None = None) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        raise ApplicationError("This API key is already revoked.", code="already_revoked", status_code=409)
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        action="api_key.revoke",
        target=api_key,
        actor=actor,
        api_key=by_key,
        data={"lab": str(api_key.lab_id), "prefix": api_key.prefix},
    )
    return api_key


class ApiKeyInvalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """Find the active key for a presented secret, or raise ``ApiKeyInvalid`` saying why."""
    # The secret is URL-safe base64 and may itself contain "_": split off the first two parts only.
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        raise ApiKeyInvalid("Malformed API key: expected 'rlhf_<prefix>_<secret>'.")
    api_key = ApiKey.objects.select_related("lab").filter(prefix=parts[1]).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash_key(raw_key)):
        raise ApiKeyInvalid("Invalid API key.")
    if api_key.revoked_at is not None:
        raise ApiKeyInvalid("This API key has been revoked.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
