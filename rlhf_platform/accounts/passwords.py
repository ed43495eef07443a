"""Changing a password (logged in, with the current one) and resetting it by an e-mailed link.

- A change or a reset ends the person's other sessions: a session carries a hash derived from
  the password hash (Django's ``get_session_auth_hash``; the queue's fast path compares the
  password hash itself), so every session made before no longer authenticates. The session that
  changed the password is kept (``update_session_auth_hash`` gives it a new key).
- A reset request answers the same whether or not the e-mail has an account, and the e-mail
  goes out from a worker after commit, so neither the answer nor its timing tells. At most
  ``PASSWORD_RESET_EMAILS_PER_HOUR`` e-mails per account per hour are sent (the rest are dropped
  silently); an address asking more than ``PASSWORD_RESET_REQUESTS_PER_HOUR`` times an hour gets
  429.
- The link carries Django's ``PasswordResetTokenGenerator`` token: valid for
  ``PASSWORD_RESET_TIMEOUT`` seconds and only while the password and last log-in it was made
  for are unchanged, so it works once.
- A wrong current password counts against the account like a failed log-in (throttle), so a
  borrowed session cannot be used to guess it.
- After a change or a reset the person gets an e-mail saying so.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from rlhf_platform.accounts.login import request_origin_for_audit
from rlhf_platform.accounts.login_throttle import (
    client_address,
    login_counters_clear,
    login_failure_count,
    login_refusal,
    password_reset_request_count,
)
from rlhf_platform.accounts.models import User
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError

INVALID_LINK = "This password reset link is invalid or has expired. Ask for a new one."


def _validate_new_password(password: str, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from exc


def _notify_on_commit(user: User, how: str) -> None:
    from rlhf_platform.accounts.tasks import password_changed_email_send_task

    user_id = str(user.pk)
    transaction.on_commit(lambda: password_changed_email_send_task.delay(user_id, how))


def user_password_change(
    *, request: HttpRequest, user: User, current_password: str, new_password: str, via: str
) -> None:
    address = client_address(request)
    refusal = login_refusal(email=user.email, address=address)
    if refusal is not None:
        raise refusal
    if not user.check_password(current_password):
        login_failure_count(email=user.email, address=address)
        raise ApplicationError(
            "Your current password is wrong.", code="invalid_password", field="current_password"
        )
    _validate_new_password(new_password, user, "new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(
            action="user.password_change",
            target=user,
            actor=user,
            data={"via": via, **request_origin_for_audit(request)},
        )
        _notify_on_commit(user, "changed")
    update_session_auth_hash(request, user)


def password_reset_url(*, user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{base_url.rstrip('/')}/password/reset/{uid}/{token}/"


def user_password_reset_request(*, request: HttpRequest, email: str, via: str) -> None:
    """E-mail a reset link if the address has an active account; say nothing either way."""
    from rlhf_platform.accounts.tasks import password_reset_email_send_task

    email = (email or "").strip().lower()
    account_allowed = password_reset_request_count(email=email, address=client_address(request))
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None or not user.has_usable_password() or not account_allowed:
        return
    base_url = settings.SITE_URL or request.build_absolute_uri("/")
    with transaction.atomic():
        audit_record(
            action="user.password_reset_request",
            target=user,
            data={"via": via, **request_origin_for_audit(request)},
        )
        transaction.on_commit(lambda: password_reset_email_send_task.delay(str(user.pk), base_url))


def password_reset_user(*, uidb64: str, token: str) -> User:
    """The account a reset link is for, or ``invalid_token``."""
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)), is_active=True)
    except (TypeError, ValueError, OverflowError, ValidationError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ApplicationError(INVALID_LINK, code="invalid_token", field="token")
    return user


def user_password_reset(
    *, request: HttpRequest, uidb64: str, token: str, new_password: str, via: str
) -> User:
    user = password_reset_user(uidb64=uidb64, token=token)
    _validate_new_password(new_password, user, "new_password")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not default_token_generator.check_token(user, token):  # used meanwhile
            raise ApplicationError(INVALID_LINK, code="invalid_token", field="token")
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(
            action="user.password_reset",
            target=user,
            actor=user,
            data={"via": via, **request_origin_for_audit(request)},
        )
        _notify_on_commit(user, "reset")
    login_counters_clear(email=user.email)
    return user
