"""Log-in fingerprints: what lets staff see that several accounts log in from one device.

At each successful log-in (:func:`~rlhf_platform.accounts.login.user_login`) one
:class:`~rlhf_platform.accounts.models.LoginFingerprint` is stored with two keyed hashes
(``django.utils.crypto.salted_hmac`` with the salts below and the ``SECRET_KEY``): ``device``, of
the client address and user agent together, and ``network``, of the address alone. The address
and the user agent themselves are never stored; the hashes cannot be reversed without the key,
and they are only compared with each other. Rows older than
``LOGIN_FINGERPRINT_RETENTION_DAYS`` are deleted by :func:`login_fingerprints_purge` (a daily
beat task). The group detection (``annotate.quality.groups``) reads them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from rlhf_platform.accounts.login_throttle import client_address
from rlhf_platform.accounts.models import LoginFingerprint

DEVICE_SALT = "rlhf_platform.accounts.fingerprints.device"
NETWORK_SALT = "rlhf_platform.accounts.fingerprints.network"
USER_AGENT_MAX = 512


def _digest(salt: str, value: str) -> str:
    return salted_hmac(salt, value, algorithm="sha256").hexdigest()


def fingerprint_of(*, address: str, user_agent: str) -> tuple[str, str]:
    """(device, network) hashes of a client address and user agent."""
    user_agent = (user_agent or "")[:USER_AGENT_MAX]
    return _digest(DEVICE_SALT, f"{address}\n{user_agent}"), _digest(NETWORK_SALT, address or "")


def login_fingerprint_record(*, request: HttpRequest, user: Any) -> LoginFingerprint:
    """Store the fingerprint of a successful log-in of ``user`` from ``request``."""
    device, network = fingerprint_of(
        address=client_address(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )
    return LoginFingerprint.objects.create(user_id=user.pk, device=device, network=network)


def login_fingerprints_purge(*, now=None) -> int:
    """Delete the fingerprints older than the retention limit; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LOGIN_FINGERPRINT_RETENTION_DAYS)
    deleted, _ = LoginFingerprint.objects.filter(created_at__lt=cutoff).delete()
    return deleted
