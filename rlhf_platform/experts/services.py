"""Every change of state to domains, expert profiles and credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from rlhf_platform.accounts.models import User
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit, user_group
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse, same_person
from rlhf_platform.experts.evidence import evidence_inspect
from rlhf_platform.experts.models import (
    CREDENTIAL_TRANSITIONS,
    DEFAULT_LEVEL_BY_KIND,
    Credential,
    Domain,
    ExpertProfile,
)

# Audit actions are entity.verb, like every other action.
CREDENTIAL_AUDIT_ACTIONS = {
    Credential.Status.APPROVED: "credential.approve",
    Credential.Status.REJECTED: "credential.reject",
    Credential.Status.REVOKED: "credential.revoke",
    Credential.Status.EXPIRED: "credential.expire",
}

LINK_KINDS = {"orcid", "linkedin", "google_scholar", "github", "website", "other"}


def _require_not_own(*, credential: Credential, reviewer: Any) -> None:
    owner_id = Credential.objects.filter(pk=credential.pk).values_list("expert__user_id", flat=True).first()
    if same_person(reviewer, owner_id):
        four_eyes_refuse(
            rule=FourEyesRule.OWN_CREDENTIAL,
            actor=reviewer,
            target=credential,
            message="You cannot decide on your own credential: another reviewer must.",
        )


# --- Domains ------------------------------------------------------------------------------


@transaction.atomic
def domain_create(
    *, actor: Any, slug: str, name: str, parent: Domain | None = None, description: str = ""
) -> Domain:
    action_require(actor, Action.DOMAIN_MANAGE)
    path = f"{parent.path}/{slug}" if parent else slug
    if Domain.objects.filter(path=path).exists():
        raise ApplicationError(f"The domain {path!r} already exists.", code="unique", field="slug")
    domain = Domain(slug=slug, name=name, parent=parent, path=path, description=description)
    domain.full_clean()
    domain.save()
    audit_record(action="domain.create", target=domain, actor=actor, data={"path": path})
    return domain


@transaction.atomic
def domain_update(
    *,
    actor: Any,
    domain: Domain,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Domain:
    """Rename, describe or (de)activate a domain. Its place in the tree does not move: the
    credentials under it were reviewed for that place."""
    action_require(actor, Action.DOMAIN_MANAGE)
    changes: dict[str, Any] = {}
    for field, value in (("name", name), ("description", description), ("is_active", is_active)):
        if value is not None and getattr(domain, field) != value:
            changes[field] = value
            setattr(domain, field, value)
    if changes:
        domain.full_clean()
        domain.save()
        audit_record(action="domain.update", target=domain, actor=actor, data=changes)
    return domain


# --- Expert profiles ----------------------------------------------------------------------


def expert_profile_ensure(*, user: User) -> ExpertProfile:
    profile, _ = ExpertProfile.objects.get_or_create(user=user)
    return profile


def _clean_links(links: Any) -> list[dict[str, str]]:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    if not isinstance(links, list):
        raise ApplicationError("Links must be a list of {kind, url}.", code="invalid", field="links")
    if len(links) > 10:
        raise ApplicationError("At most 10 links.", code="max_length", field="links")
    cleaned = []
    validate_url = URLValidator(schemes=["https", "http"])
    for index, link in enumerate(links):
        if not isinstance(link, dict) or set(link) - {"kind", "url"} or "url" not in link:
            raise ApplicationError(
                "Each link is an object with 'kind' and 'url'.", code="invalid", field=f"links.{index}"
            )
        kind = str(link.get("kind") or "other")
        if kind not in LINK_KINDS:
            raise ApplicationError(
                f"Unknown link kind {kind!r}; use one of {', '.join(sorted(LINK_KINDS))}.",
                code="invalid_choice",
                field=f"links.{index}.kind",
            )
        try:
            validate_url(str(link["url"]))
        except ValidationError as exc:
            raise ApplicationError(
                "Enter a valid http(s) URL.", code="invalid_url", field=f"links.{index}.url"
            ) from exc
        cleaned.append({"kind": kind, "url": str(link["url"])})
    return cleaned


@transaction.atomic
def expert_profile_update(
    *,
    profile: ExpertProfile,
    bio: str | None = None,
    links: list | None = None,
    claimed_domains: list[Domain] | None = None,
) -> ExpertProfile:
    if bio is not None:
        profile.bio = bio
    if links is not None:
        profile.links = _clean_links(links)
    profile.full_clean()
    profile.save()
    if claimed_domains is not None:
        inactive = [d.path for d in claimed_domains if not d.is_active]
        if inactive:
            raise ApplicationError(
                f"Domain {inactive[0]!r} is not open.", code="inactive", field="claimed_domains"
            )
        profile.claimed_domains.set(claimed_domains)
    return profile


# --- Credentials --------------------------------------------------------------------------


@transaction.atomic
def credential_submit(
    *,
    expert: ExpertProfile,
    domain: Domain,
    kind: str,
    title: str,
    issuer: str,
    issued_on: dt.date,
    identifier: str = "",
    expires_on: dt.date | None = None,
    evidence: UploadedFile | None = None,
) -> Credential:
    today = timezone.now().date()
    if not domain.is_active:
        raise ApplicationError("This domain is not open for credentials.", code="inactive", field="domain")
    if issued_on > today:
        raise ApplicationError("The issue date is in the future.", code="future_date", field="issued_on")
    if expires_on is not None and expires_on < issued_on:
        raise ApplicationError(
            "The expiry date is before the issue date.", code="before_issue", field="expires_on"
        )
    if expires_on is not None and expires_on < today:
        raise ApplicationError(
            "This credential has already expired.", code="already_expired", field="expires_on"
        )
    credential = Credential(
        expert=expert,
        domain=domain,
        kind=kind,
        title=title,
        issuer=issuer,
        identifier=identifier,
        issued_on=issued_on,
        expires_on=expires_on,
    )
    info = evidence_inspect(evidence) if evidence is not None else None
    # Validate everything before the file touches the disk.
    credential.full_clean(exclude=["evidence"])
    if info is not None:
        credential.evidence_name = info.name
        credential.evidence_content_type = info.content_type
        credential.evidence_size = info.size
        credential.evidence_sha256 = info.sha256
        extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[info.content_type]
        # A random stored name: the original name is kept only as data.
        credential.evidence.save(f"{credential.pk}.{extension}", evidence, save=False)
    try:
        with transaction.atomic():
            credential.save()
            audit_record(
                action="credential.submit",
                target=credential,
                actor=expert.user,
                data={"domain": domain.path, "kind": kind, "evidence_sha256": credential.evidence_sha256},
            )
    except Exception:
        # Nothing half-written: a row that failed to save leaves no file behind.
        if credential.evidence:
            credential.evidence.storage.delete(credential.evidence.name)
        raise
    notify_on_commit(
        STAFF_GROUP,
        {"type": "credential.submitted", "credential": str(credential.pk), "domain": domain.path},
    )
    return credential


def _credential_transition(
    *,
    credential: Credential,
    to: str,
    actor: Any,
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> Credential:
    # Lock the row so two reviewers deciding at once cannot both succeed.
    credential = (
        Credential.objects.select_for_update().select_related("domain", "expert").get(pk=credential.pk)
    )
    source = credential.status
    if to not in CREDENTIAL_TRANSITIONS[source]:
        raise ApplicationError(
            f"This credential is {source}; it cannot become {to}.",
            code="invalid_transition",
            field="status",
            status_code=409,
        )
    for field, value in (changes or {}).items():
        setattr(credential, field, value)
    credential.status = to
    if reason:
        credential.decision_reason = reason
    if actor is not None:
        credential.reviewed_by = actor
    credential.reviewed_at = timezone.now()
    credential.full_clean(exclude=["evidence"])
    credential.save()
    audit_record(
        action=CREDENTIAL_AUDIT_ACTIONS[to],
        target=credential,
        actor=actor,
        data={
            "from": source,
            "to": to,
            "level": credential.level,
            "reason": reason,
            "domain": credential.domain.path,
        },
    )
    notify_on_commit(
        user_group(credential.expert.user_id),
        {
            "type": "credential.status",
            "credential": str(credential.pk),
            "status": to,
            "title": credential.title,
            "reason": reason,
        },
    )
    return credential


@transaction.atomic
def credential_approve(*, credential: Credential, reviewer: Any, level: int | None = None) -> Credential:
    action_require(reviewer, Action.CREDENTIAL_DECIDE)
    _require_not_own(credential=credential, reviewer=reviewer)
    if level is None:
        level = DEFAULT_LEVEL_BY_KIND[credential.kind]
    if level not in (1, 2, 3, 4):
        raise ApplicationError("Level must be 1, 2, 3 or 4.", code="invalid_choice", field="level")
    if credential.expires_on is not None and credential.expires_on < timezone.now().date():
        raise ApplicationError(
            "This credential has expired; it cannot be approved.",
            code="already_expired",
            field="expires_on",
            status_code=409,
        )
    return _credential_transition(
        credential=credential, to=Credential.Status.APPROVED, actor=reviewer, changes={"level": level}
    )


@transaction.atomic
def credential_reject(*, credential: Credential, reviewer: Any, reason: str) -> Credential:
    action_require(reviewer, Action.CREDENTIAL_DECIDE)
    _require_not_own(credential=credential, reviewer=reviewer)
    if not (reason or "").strip():
        raise ApplicationError("Say why the credential is rejected.", code="required", field="reason")
    return _credential_transition(
        credential=credential, to=Credential.Status.REJECTED, actor=reviewer, reason=reason.strip()
    )


@transaction.atomic
def credential_revoke(*, credential: Credential, reviewer: Any, reason: str) -> Credential:
    action_require(reviewer, Action.CREDENTIAL_DECIDE)
    _require_not_own(credential=credential, reviewer=reviewer)
    if not (reason or "").strip():
        raise ApplicationError("Say why the credential is revoked.", code="required", field="reason")
    return _credential_transition(
        credential=credential, to=Credential.Status.REVOKED, actor=reviewer, reason=reason.strip()
    )


def credentials_expire(*, today: dt.date | None = None) -> int:
    """Mark approved credentials past their expiry date as expired (the system acts).

    The selectors already ignore them from their expiry date on; this records the fact, audits
    it and tells the expert. Safe to run any number of times.
    """
    today = today or timezone.now().date()
    count = 0
    due = Credential.objects.filter(status=Credential.Status.APPROVED, expires_on__lt=today)
    for pk in due.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            credential = Credential.objects.select_for_update().get(pk=pk)
            if credential.status != Credential.Status.APPROVED:
                continue  # moved by someone else since the list was read
            _credential_transition(credential=credential, to=Credential.Status.EXPIRED, actor=None)
            count += 1
    return count
