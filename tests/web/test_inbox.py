"""The inbox: a notification sent through ``notify_on_commit`` is kept for its person (in the
same transaction) and still pushed live; the inbox page lists it with its link, the menu shows
the unread count, one or all are marked read; staff broadcasts are not kept; the newest
``INBOX_KEEP`` are kept; nobody sees or marks another person's notifications."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from rlhf_platform.accounts import inbox, notifications
from rlhf_platform.accounts.models import Notification
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit, user_group
from rlhf_platform.experts.services import credential_approve
from tests.factories import CredentialFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

WARNING = {
    "type": "quality.warning",
    "project": "0b9d7c8e-0000-4000-8000-000000000001",
    "message": "Your answers on check items fall below the standard: please re-read the guidelines.",
}


@pytest.fixture
def pushed(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(notifications, "_send", lambda group, event: sent.append((group, event)))
    return sent


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_notification_is_kept_then_pushed_with_its_id(pushed, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            notify_on_commit(user_group(user.pk), WARNING)
            assert pushed == []  # the push waits for the commit; the row is already written
            kept = Notification.objects.get(user=user)
    assert kept.kind == "quality.warning" and kept.read_at is None
    assert kept.message == WARNING["message"]
    assert kept.link == f"/me/quality/#project-{WARNING['project']}"
    assert pushed == [(user_group(user.pk), {**WARNING, "notification": kept.pk, "unread": 1})]


def test_a_rolled_back_change_keeps_no_notification(pushed, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            notify_on_commit(user_group(user.pk), WARNING)
            raise RuntimeError
    assert not Notification.objects.filter(user=user).exists()
    assert pushed == []


def test_staff_broadcasts_are_pushed_but_not_kept(pushed, django_capture_on_commit_callbacks):
    StaffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notify_on_commit(STAFF_GROUP, {"type": "quality.appeal", "suspension": "x"})
    assert not Notification.objects.exists()
    assert [group for group, _ in pushed] == [STAFF_GROUP]


def test_live_only_events_are_not_kept(pushed, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notify_on_commit(user_group(user.pk), {"type": "progress.tick"}, keep=False)
    assert not Notification.objects.exists() and len(pushed) == 1


def test_a_credential_decision_lands_in_the_inbox(pushed):
    credential = CredentialFactory()
    credential_approve(credential=credential, reviewer=StaffFactory())
    kept = Notification.objects.get(user=credential.expert.user)
    assert kept.kind == "credential.status"
    assert kept.message == f"Your credential “{credential.title}” was approved."
    assert kept.link == f"/profile/#credential-{credential.pk}"


def test_inbox_lists_counts_and_marks_read(pushed):
    user = UserFactory()
    notify_on_commit(user_group(user.pk), WARNING)
    notify_on_commit(user_group(user.pk), {"type": "quality.appeal_upheld", "suspension": "s1"})
    client = _browser(user)
    html = client.get("/inbox/").content.decode()
    assert WARNING["message"] in html and "Staff upheld your suspension" in html
    first, second = Notification.objects.filter(user=user).order_by("id")
    assert f'action="/inbox/{first.pk}/open/"' in html and f'action="/inbox/{second.pk}/open/"' in html
    assert 'id="inbox-unread">2</span>' in html  # the menu's count, on every page
    assert 'id="inbox-unread">2</span>' in client.get("/profile/").content.decode()

    response = client.post(f"/inbox/{first.pk}/read/")
    assert response.status_code == 302 and response.url == "/inbox/"
    first.refresh_from_db()
    assert first.read_at is not None
    html = client.get("/inbox/").content.decode()
    assert 'id="inbox-unread">1</span>' in html
    assert f'id="notification-{first.pk}"' in html  # read ones stay listed, with a plain link
    assert f'href="/me/quality/#project-{WARNING["project"]}"' in html

    client.post("/inbox/read-all/")
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert 'id="inbox-unread"' not in client.get("/inbox/").content.decode()


def test_nobody_sees_or_marks_another_persons_notifications(pushed):
    mine, theirs = UserFactory(), UserFactory()
    notify_on_commit(user_group(theirs.pk), {**WARNING, "message": "Their private warning."})
    notify_on_commit(user_group(mine.pk), {**WARNING, "message": "My own warning."})
    client = _browser(mine)
    html = client.get("/inbox/").content.decode()
    assert "My own warning." in html and "Their private warning." not in html
    assert 'id="inbox-unread">1</span>' in html
    other = Notification.objects.get(user=theirs)
    assert client.post(f"/inbox/{other.pk}/read/").status_code == 404
    client.post("/inbox/read-all/")
    other.refresh_from_db()
    assert other.read_at is None


def test_the_inbox_keeps_the_newest(pushed, monkeypatch):
    monkeypatch.setattr(inbox, "INBOX_KEEP", 3)
    user, other = UserFactory(), UserFactory()
    notify_on_commit(user_group(other.pk), WARNING)
    for n in range(5):
        notify_on_commit(user_group(user.pk), {"type": "x.y", "message": f"number {n}"})
    assert list(Notification.objects.filter(user=user).values_list("message", flat=True)) == [
        "number 4",
        "number 3",
        "number 2",
    ]
    assert Notification.objects.filter(user=other).count() == 1


def test_visitors_are_sent_to_log_in():
    response = Client().get("/inbox/")
    assert response.status_code == 302 and "/login/" in response.url


def test_opening_an_unread_notification_marks_it_read_and_goes_to_its_page(pushed):
    user, other = UserFactory(), UserFactory()
    notify_on_commit(user_group(user.pk), {"type": "quality.appeal_upheld", "suspension": "s1"})
    notify_on_commit(user_group(other.pk), {"type": "quality.appeal_upheld", "suspension": "s2"})
    mine, theirs = Notification.objects.get(user=user), Notification.objects.get(user=other)
    client = _browser(user)
    response = client.post(f"/inbox/{mine.pk}/open/")
    assert response.status_code == 302 and response.url == "/suspensions/#suspension-s1"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.post(f"/inbox/{theirs.pk}/open/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
