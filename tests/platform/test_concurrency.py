"""Decisions taken at the same moment: the database lets exactly one through.

Each request runs in its own thread, so on its own database connection and in its own
transaction, as two server processes would; a barrier releases them together.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import User
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.experts.models import Credential
from tests.factories import CredentialFactory, StaffFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


def _logged_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _decision_events(credential: Credential) -> list[AuditEvent]:
    return list(
        audit_events_for(target=credential).filter(action__in=["credential.approve", "credential.reject"])
    )


def test_concurrent_approve_and_reject_let_exactly_one_decide():
    approver, rejecter = StaffFactory(), StaffFactory()
    approve_client, reject_client = _logged_in(approver), _logged_in(rejecter)
    for _ in range(ROUNDS):
        credential = CredentialFactory()
        approve, reject = run_together(
            [
                lambda c=credential: approve_client.post(
                    f"/api/v1/staff/credentials/{c.pk}/approve", {}, format="json"
                ),
                lambda c=credential: reject_client.post(
                    f"/api/v1/staff/credentials/{c.pk}/reject", {"reason": "Forged."}, format="json"
                ),
            ]
        )
        assert sorted([approve.status_code, reject.status_code]) == [200, 409]
        loser = approve if approve.status_code == 409 else reject
        assert loser.json()["errors"][0]["code"] == "invalid_transition"

        credential.refresh_from_db()
        winner = approver if approve.status_code == 200 else rejecter
        assert credential.status == ("approved" if winner == approver else "rejected")
        assert credential.reviewed_by == winner
        events = _decision_events(credential)
        assert len(events) == 1
        assert events[0].actor == winner
        assert events[0].data["to"] == credential.status


def test_concurrent_approvals_at_different_levels_leave_the_winners_level():
    first, second = StaffFactory(), StaffFactory()
    clients = [_logged_in(first), _logged_in(second)]
    for _ in range(ROUNDS):
        credential = CredentialFactory()
        responses = run_together(
            [
                lambda c=credential, client=client, level=level: client.post(
                    f"/api/v1/staff/credentials/{c.pk}/approve", {"level": level}, format="json"
                )
                for client, level in zip(clients, (2, 4), strict=True)
            ]
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        winning_level = (2, 4)[[r.status_code for r in responses].index(200)]
        credential.refresh_from_db()
        assert credential.level == winning_level
        assert len(_decision_events(credential)) == 1


def test_concurrent_signups_with_one_email_create_one_user():
    for round_number in range(ROUNDS):
        email = f"race{round_number}@example.org"
        bodies = [
            {"email": email, "password": "a-long-enough-passphrase"},
            {"email": email.upper(), "password": "another-long-passphrase"},
        ]
        responses = run_together(
            [
                lambda body=body: APIClient().post("/api/v1/auth/signup", body, format="json")
                for body in bodies
            ]
        )
        assert sorted(r.status_code for r in responses) == [201, 400]
        refused = next(r for r in responses if r.status_code == 400)
        error = refused.json()["errors"][0]
        assert (error["field"], error["code"]) == ("email", "unique")
        assert User.objects.filter(email__iexact=email).count() == 1
        user = User.objects.get(email__iexact=email)
        assert AuditEvent.objects.filter(action="user.signup", target_id=str(user.pk)).count() == 1
        assert AuditEvent.objects.filter(action="user.signup", data__email=email).count() == 1
