"""Signatures a receiver can check: HMAC-SHA256 over the timestamp and the raw body."""

from __future__ import annotations

import time

from rlhf_platform.webhooks.signing import sign, verify

SECRET = "whsec_test"
BODY = b'{"id":"1","type":"batch.completed","data":{}}'


def test_a_signed_body_verifies_with_the_same_secret():
    header = sign(secret=SECRET, body=BODY)
    assert verify(secret=SECRET, body=BODY, header=header)


def test_the_header_carries_the_timestamp_and_a_v1_hmac():
    header = sign(secret=SECRET, body=BODY, timestamp=1_700_000_000)
    timestamp, mac = header.split(",")
    assert timestamp == "t=1700000000"
    assert mac.startswith("v1=") and len(mac) == 3 + 64


def test_another_secret_does_not_verify():
    header = sign(secret=SECRET, body=BODY)
    assert not verify(secret="whsec_other", body=BODY, header=header)


def test_a_tampered_body_does_not_verify():
    header = sign(secret=SECRET, body=BODY)
    assert not verify(secret=SECRET, body=BODY.replace(b"completed", b"ingested"), header=header)


def test_a_changed_timestamp_does_not_verify():
    # The timestamp is signed too: a replay cannot refresh it.
    now = int(time.time())
    mac = sign(secret=SECRET, body=BODY, timestamp=now - 3600).split(",")[1]
    assert not verify(secret=SECRET, body=BODY, header=f"t={now},{mac}", now=now)


def test_a_stale_timestamp_is_refused():
    now = int(time.time())
    header = sign(secret=SECRET, body=BODY, timestamp=now - 301)
    assert not verify(secret=SECRET, body=BODY, header=header, now=now)
    assert verify(secret=SECRET, body=BODY, header=header, now=now, tolerance_seconds=400)


def test_a_malformed_header_is_refused():
    for header in ("", "garbage", "t=abc,v1=00", "v1=00", "t=1"):
        assert not verify(secret=SECRET, body=BODY, header=header)
