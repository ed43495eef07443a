"""Checking a webhook delivery's signature, as the server makes it.

Each delivery carries ``X-Rlhf-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, the HMAC
keyed with the webhook's secret over ``"<t>." + <the raw body>``. Verify the raw bytes as
received (before any JSON parsing), and refuse a timestamp older than the tolerance (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from rlhf_client.errors import RlhfError

SIGNATURE_HEADER = "X-Rlhf-Signature"
EVENT_HEADER = "X-Rlhf-Event"
DELIVERY_HEADER = "X-Rlhf-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(RlhfError):
    """The delivery's signature does not verify (wrong secret, altered body, stale or malformed)."""


def compute_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``v1`` value for ``body`` sent at ``timestamp``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> bool:
    """Whether ``header`` (the ``X-Rlhf-Signature`` value) signs ``body`` with ``secret``,
    within ``tolerance_seconds`` of ``now``."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(compute_signature(secret, body, timestamp), given)


def parse_delivery(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """The delivery's payload once its signature verifies; :class:`InvalidSignature` otherwise.
    ``headers`` as the web framework gives them (any case)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not verify_signature(secret, body, header, tolerance_seconds=tolerance_seconds):
        raise InvalidSignature("The webhook signature does not verify.")
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise InvalidSignature("The webhook body is not a JSON object.")
    return payload
