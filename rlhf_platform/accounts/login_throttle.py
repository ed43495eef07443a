"""Counters that slow password guessing: per account and per client address, in the cache.

- **Account lock.** ``LOGIN_LOCKOUT_FAILURES`` failed log-ins of one e-mail within
  ``LOGIN_FAILURE_WINDOW_SECONDS`` lock it for ``LOGIN_LOCKOUT_SECONDS``; each further lock
  within a day lasts twice as long as the one before, up to ``LOGIN_LOCKOUT_MAX_SECONDS``.
  While locked, even the right password is refused (that is what makes guessing slow), with a
  message saying how long to wait and that a password reset works meanwhile. A successful
  log-in or a password reset clears the account's counters.
- **Sign-ups.** One client address may try ``SIGNUPS_PER_HOUR`` sign-ups an hour: each one
  hashes a password (about 0.3 s of CPU) and creates an account, so an address that
  could sign up at will could keep the server's cores busy, or mint accounts for a Sybil farm.
- **Address limit.** ``LOGIN_IP_MAX_FAILURES`` failed log-ins from one client address (IPv4,
  or an IPv6 /64: one subscriber's whole prefix) within ``LOGIN_IP_WINDOW_SECONDS`` make that
  address wait until the window ends, whichever accounts it tries. Only failures count, so an
  office behind one address can log in all day.

Counters are keyed by an HMAC of the e-mail or address (never in clear) and exist for unknown
e-mails too, so a lock says nothing about whether an account exists. The cache is Redis when
``REDIS_URL`` is set (shared by every process); the development default is per process.
Behind a reverse proxy, run the server so that ``REMOTE_ADDR`` is the client's address
(uvicorn ``--forwarded-allow-ips``), or every client shares the proxy's counter.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import cache

from rlhf_platform.core.exceptions import ApplicationError

KEY_PREFIX = "login-throttle:"
LOCK_MEMORY_SECONDS = 86400  # how long earlier locks make the next one longer
HOUR = 3600  # the window of the hourly limits (password reset, sign-up)


class LoginThrottled(ApplicationError):
    """A log-in refused before its password is checked; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        super().__init__(message, code=code, status_code=429, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def keyed_digest(purpose: str, value: str) -> str:
    """A salted, keyed hash of a personal value (an e-mail, an address) for counters and the
    audit log: equal inputs match, the input cannot be read back."""
    key = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def _unmapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """``::ffff:192.0.2.1`` is 192.0.2.1 (a dual-stack socket reports IPv4 clients so)."""
    return getattr(ip, "ipv4_mapped", None) or ip


def _address_bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    ip = _unmapped(ip)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_for_audit(address: str) -> str:
    """The address cut to its network (IPv4 /24, IPv6 /48): enough to see where a burst came
    from, not enough to name a household."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    ip = _unmapped(ip)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _keys(email: str) -> tuple[str, str, str]:
    account = keyed_digest("login-account", email.strip().lower())
    return (
        f"{KEY_PREFIX}failures:{account}",
        f"{KEY_PREFIX}locked:{account}",
        f"{KEY_PREFIX}locks:{account}",
    )


def _address_key(address: str) -> str:
    return f"{KEY_PREFIX}address:{keyed_digest('login-address', _address_bucket(address))}"


def _count(key: str, window: int) -> int:
    """Add one to a counter that lives ``window`` seconds from its first count."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def login_refusal(*, email: str, address: str) -> LoginThrottled | None:
    """Why a log-in must not even be tried now, or None."""
    now = time.time()
    _, locked_key, _ = _keys(email)
    locked_until = cache.get(locked_key)
    if locked_until is not None and locked_until > now:
        wait = math.ceil(locked_until - now)
        return LoginThrottled(
            f"Too many failed log-ins for this account: it is locked for {_minutes(wait)}. "
            "Try again later, or reset your password by e-mail.",
            code="login_locked",
            retry_after=wait,
        )
    failures = cache.get(_address_key(address), 0)
    if failures >= settings.LOGIN_IP_MAX_FAILURES:
        wait = settings.LOGIN_IP_WINDOW_SECONDS
        return LoginThrottled(
            f"Too many failed log-ins from your network. Try again in {_minutes(wait)}.",
            code="login_throttled",
            retry_after=wait,
        )
    return None


def login_failure_count(*, email: str, address: str) -> int | None:
    """Count a failed log-in; returns the length in seconds of the lock it started, if any."""
    _count(_address_key(address), settings.LOGIN_IP_WINDOW_SECONDS)
    failures_key, locked_key, locks_key = _keys(email)
    if _count(failures_key, settings.LOGIN_FAILURE_WINDOW_SECONDS) < settings.LOGIN_LOCKOUT_FAILURES:
        return None
    cache.delete(failures_key)
    locks = _count(locks_key, LOCK_MEMORY_SECONDS)
    seconds = min(settings.LOGIN_LOCKOUT_SECONDS * 2 ** (locks - 1), settings.LOGIN_LOCKOUT_MAX_SECONDS)
    cache.set(locked_key, time.time() + seconds, timeout=seconds)
    return seconds


def login_counters_clear(*, email: str) -> None:
    """The account proved its owner (a log-in, a password reset): forget its failures."""
    cache.delete_many(list(_keys(email)))


def password_reset_request_count(*, email: str, address: str) -> bool:
    """Count a password reset request. Raises ``LoginThrottled`` when the address asked too
    often this hour; returns False when the account had its e-mails for the hour (the request
    is then dropped silently: the answer must not differ by account)."""
    _address_hourly_count(
        "reset-address",
        address,
        settings.PASSWORD_RESET_REQUESTS_PER_HOUR,
        message="Too many password reset requests from your network. Try again in an hour.",
        code="reset_throttled",
    )
    account_key = f"{KEY_PREFIX}reset-account:{keyed_digest('reset-account', email.strip().lower())}"
    return _count(account_key, HOUR) <= settings.PASSWORD_RESET_EMAILS_PER_HOUR


def signup_attempt_count(*, address: str) -> None:
    """Count a sign-up attempt from ``address``; raises ``LoginThrottled`` past
    ``SIGNUPS_PER_HOUR`` attempts in the hour from its first, before any of the work."""
    _address_hourly_count(
        "signup-address",
        address,
        settings.SIGNUPS_PER_HOUR,
        message="Too many sign-ups from your network. Try again in an hour.",
        code="signup_throttled",
    )


def _address_hourly_count(purpose: str, address: str, limit: int, *, message: str, code: str) -> None:
    """Count one request of ``purpose`` from the address's network; past ``limit`` within the
    hour from the first, raise ``LoginThrottled`` (429, ``Retry-After`` an hour)."""
    key = f"{KEY_PREFIX}{purpose}:{keyed_digest(purpose, _address_bucket(address))}"
    if _count(key, HOUR) > limit:
        raise LoginThrottled(message, code=code, retry_after=HOUR)
