"""Log-in fingerprints: every successful log-in stores keyed hashes of the address and user
agent (never either in clear), the same device gives the same hash, and rows past the
retention limit are purged by the daily task."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from rlhf_platform.accounts.fingerprints import fingerprint_of, login_fingerprints_purge
from rlhf_platform.accounts.models import LoginFingerprint
from rlhf_platform.accounts.tasks import login_fingerprints_purge_task
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.23"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Fingerprint-Test/1.0"


def _login(user, *, address=ADDRESS, agent=AGENT, password=PASSWORD):
    return APIClient().post(
        "/api/v1/auth/login",
        {"email": user.email, "password": password},
        format="json",
        REMOTE_ADDR=address,
        HTTP_USER_AGENT=agent,
    )


def test_a_log_in_stores_keyed_hashes_and_never_the_address_or_the_agent():
    user = UserFactory()
    assert _login(user).status_code == 200
    row = LoginFingerprint.objects.get(user=user)
    assert (row.device, row.network) == fingerprint_of(address=ADDRESS, user_agent=AGENT)
    assert len(row.device) == 64 and len(row.network) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_loginfingerprint")
        stored = str(cursor.fetchall())
    assert ADDRESS not in stored and "Fingerprint-Test" not in stored and "198.51.100" not in stored


def test_the_same_device_hashes_alike_and_another_agent_or_address_does_not():
    one, two = UserFactory(), UserFactory()
    _login(one)
    _login(two)
    _login(two, agent="Other/2.0")
    _login(two, address="203.0.113.9")
    first = LoginFingerprint.objects.get(user=one)
    rows = list(LoginFingerprint.objects.filter(user=two).order_by("created_at", "pk"))
    assert rows[0].device == first.device
    assert rows[1].device != first.device and rows[1].network == first.network
    assert rows[2].device != first.device and rows[2].network != first.network


def test_a_failed_log_in_stores_no_fingerprint():
    user = UserFactory()
    assert _login(user, password="wrong password").status_code == 400
    assert not LoginFingerprint.objects.exists()


def test_fingerprints_past_the_retention_limit_are_purged(settings):
    settings.LOGIN_FINGERPRINT_RETENTION_DAYS = 90
    user = UserFactory()
    _login(user)
    _login(user)
    old = LoginFingerprint.objects.filter(user=user).first()
    LoginFingerprint.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=91))
    assert login_fingerprints_purge() == 1
    assert LoginFingerprint.objects.filter(user=user).count() == 1
    assert login_fingerprints_purge_task() == 0


def test_the_purge_is_on_the_beat(settings):
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"].endswith("login_fingerprints_purge_task")
    ]
    assert entries and entries[0]["schedule"] <= 86400
