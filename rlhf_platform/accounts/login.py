"""Log-in and log-out of a person (session): the throttle, Django's session, an audit row each.

Every way in goes through :func:`user_authenticate` and :func:`user_login`: the API
(``/api/v1/auth/login``), the log-in page, and the Django admin (which sends people to the
log-in page). The audit log gets ``user.login``, ``user.login_failed``, ``user.login_locked`` and
``user.logout``, each with the client's network (``ip``: IPv4 /24, IPv6 /48) and a keyed hash of
the whole address (``ip_hash``), never the address or a password in clear. A failed log-in with
an e-mail that has no account has no target and a keyed hash of that e-mail (``email_hash``):
people type passwords into the e-mail field. A successful log-in also stores its fingerprint
(keyed hashes of the address and user agent: :mod:`rlhf_platform.accounts.fingerprints`).
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.db import transaction
from django.http import HttpRequest

from rlhf_platform.accounts.fingerprints import login_fingerprint_record
from rlhf_platform.accounts.login_throttle import (
    address_for_audit,
    client_address,
    keyed_digest,
    login_counters_clear,
    login_failure_count,
    login_refusal,
)
from rlhf_platform.accounts.models import User
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.sessions import SESSION_STARTED_KEY

INVALID_CREDENTIALS = "E-mail or password is wrong."


def request_origin_for_audit(request: HttpRequest) -> dict[str, str]:
    address = client_address(request)
    return {"ip": address_for_audit(address), "ip_hash": keyed_digest("audit-address", address)}


def user_authenticate(*, request: HttpRequest, email: str, password: str, via: str) -> User:
    """The account for an e-mail and password, or a refusal: ``login_locked`` /
    ``login_throttled`` (429, before the password is checked) or ``invalid_credentials``."""
    email = (email or "").strip().lower()
    address = client_address(request)
    refusal = login_refusal(email=email, address=address)
    if refusal is not None:
        raise refusal
    user = authenticate(request, username=email, password=password)
    if user is not None:
        return user
    lock_seconds = login_failure_count(email=email, address=address)
    known = User.objects.filter(email=email).first()
    data: dict[str, Any] = {"via": via, **request_origin_for_audit(request)}
    if known is None:
        data["email_hash"] = keyed_digest("audit-email", email)
    with transaction.atomic():
        audit_record(action="user.login_failed", target=known, data=data)
        if lock_seconds:
            audit_record(action="user.login_locked", target=known, data={**data, "seconds": lock_seconds})
    if lock_seconds:
        raise login_refusal(email=email, address=address) or ApplicationError(INVALID_CREDENTIALS)
    raise ApplicationError(INVALID_CREDENTIALS, code="invalid_credentials", status_code=400)


def user_login(*, request: HttpRequest, user: User, via: str) -> None:
    """Start the person's session (a new session key) and record it."""
    with transaction.atomic():
        login(request, user, backend="rlhf_platform.accounts.backends.PlatformBackend")
        request.session[SESSION_STARTED_KEY] = int(time.time())
        audit_record(
            action="user.login",
            target=user,
            actor=user,
            data={"via": via, **request_origin_for_audit(request)},
        )
        login_fingerprint_record(request=request, user=user)
    login_counters_clear(email=user.email)


def user_logout(*, request: HttpRequest, via: str) -> None:
    """End the session; recorded when there was a person to log out."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        audit_record(
            action="user.logout",
            target=user,
            actor=user,
            data={"via": via, **request_origin_for_audit(request)},
        )
    logout(request)
