from __future__ import annotations

from typing import Any

from django.db import models

from rlhf_platform.audit.models import AuditEvent


def audit_record(
    *,
    action: str,
    target: models.Model | None,
    actor: Any = None,
    api_key: Any = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction of the action it records, so
    that the action and its record commit or roll back together. ``target`` is None only for
    an event about no stored row (a failed log-in with an unknown e-mail)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_api_key=api_key,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )
