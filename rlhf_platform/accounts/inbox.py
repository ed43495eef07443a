"""The inbox: every notification sent to one person, kept with read/unread.

:func:`~rlhf_platform.accounts.notifications.notify_on_commit` stores an event addressed to one
person (``user_group(user_id)``) here, in the caller's transaction, before pushing it live after
commit: a notification of a rolled-back change is neither kept nor pushed. The stored row says in
words what happened (:func:`describe`) and links to the page about it.

Broadcasts to staff (``STAFF_GROUP``: a credential submitted, an appeal, a pending budget credit
or payout run) are not kept per reviewer: they announce work in a shared queue that the staff
pages list (review queue, appeals, budgets, payouts), and a copy in every reviewer's inbox would
stay "unread" after a colleague has done the work.

Retention: the newest :data:`INBOX_KEEP` notifications per person; older ones are deleted when a
new one arrives.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rlhf_platform.accounts.models import Notification
from rlhf_platform.core.exceptions import ApplicationError

INBOX_KEEP = 500

APPEAL_OUTCOMES = {
    "quality.appeal_reinstated": "Your appeal was accepted: the suspension is lifted and you may label "
    "in the project again.",
    "quality.appeal_upheld": "Staff upheld your suspension after reading your appeal.",
}
CREDENTIAL_STATUS = {"approved": "was approved", "rejected": "was rejected", "revoked": "was revoked"}


def _url(name: str, anchor: str = "") -> str:
    return reverse(name) + (f"#{anchor}" if anchor else "")


def describe(event: dict[str, Any]) -> tuple[str, str]:
    """The notification's message and link for an event as pushed (its ``type`` and fields)."""
    kind = str(event.get("type", ""))
    message = str(event.get("message") or "")
    if kind == "quality.warning":
        return message or "A quality warning.", _url("my-quality", f"project-{event.get('project')}")
    if kind == "quality.suspended":
        return message or "You are suspended from a project.", _url(
            "my-quality", f"suspension-{event.get('suspension')}"
        )
    if kind in APPEAL_OUTCOMES:
        return APPEAL_OUTCOMES[kind], _url("suspensions", f"suspension-{event.get('suspension')}")
    if kind == "quality.group_cleared":
        return (
            "Staff cleared the group of accounts yours was flagged with: your labels count and are paid.",
            _url("my-quality"),
        )
    if kind == "credential.status":
        status = str(event.get("status"))
        title = event.get("title")
        subject = f"Your credential “{title}”" if title else "One of your credentials"
        text = f"{subject} {CREDENTIAL_STATUS.get(status, f'is now {status}')}."
        if event.get("reason"):
            text += f" Reason: {event['reason']}"
        credential = event.get("credential")
        return text, _url("profile", f"credential-{credential}" if credential else "")
    return message or kind.replace(".", ": ").replace("_", " "), str(event.get("link") or "")


def notification_store(*, user_id: Any, event: dict[str, Any]) -> Notification:
    """Keep ``event`` in the person's inbox (in the caller's transaction), and apply the
    retention: the newest ``INBOX_KEEP`` stay."""
    message, link = describe(event)
    notification = Notification.objects.create(
        user_id=user_id, kind=str(event.get("type", ""))[:64], message=message, link=link[:500], data=event
    )
    cutoff = (
        Notification.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values_list("created_at", "id")[INBOX_KEEP : INBOX_KEEP + 1]
    )
    for created_at, pk in cutoff:
        old = Notification.objects.filter(user_id=user_id, created_at__lte=created_at).exclude(
            created_at=created_at, id__gt=pk
        )
        old.delete()
    return notification


# --- Selectors ------------------------------------------------------------------------------


def inbox_for(*, user) -> Any:
    """The person's notifications, newest first."""
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def unread_count_of(user_id: Any) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def unread_count(*, user) -> int:
    """The person's unread notifications (0 for a visitor)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return unread_count_of(user.pk)


# --- Services -------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user, notification_id: Any) -> Notification:
    """Mark one of the person's own notifications read (idempotent). Anyone else's answers as
    not found."""
    notification = (
        Notification.objects.select_for_update().filter(pk=notification_id, user_id=user.pk).first()
    )
    if notification is None:
        raise ApplicationError("Notification not found.", code="not_found", status_code=404)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of the person read; returns how many."""
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).update(read_at=timezone.now())
