from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string

from rlhf_platform.accounts.models import User
from rlhf_platform.accounts.passwords import password_reset_url


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def password_reset_email_send_task(user_id: str, base_url: str) -> None:
    """E-mail a password reset link (made here, from the account as it is now)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    context = {"user": user, "url": password_reset_url(user=user, base_url=base_url)}
    send_mail(
        subject="Reset your password · RLHF expert platform",
        message=render_to_string("accounts/password_reset_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def password_changed_email_send_task(user_id: str, how: str) -> None:
    """Tell the person their password changed (``how``: "changed" or "reset"), so that a change
    they did not make does not go unnoticed."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    send_mail(
        subject="Your password was changed · RLHF expert platform",
        message=render_to_string("accounts/password_changed_email.txt", {"user": user, "how": how}),
        from_email=None,
        recipient_list=[user.email],
    )


@shared_task(ignore_result=True)
def login_fingerprints_purge_task() -> int:
    """Beat, daily: delete log-in fingerprints past LOGIN_FINGERPRINT_RETENTION_DAYS."""
    from rlhf_platform.accounts.fingerprints import login_fingerprints_purge

    return login_fingerprints_purge()
