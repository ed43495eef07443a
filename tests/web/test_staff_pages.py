"""The staff review queue and credential decisions, through the HTML pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from rlhf_platform.audit.selectors import audit_events_for
from rlhf_platform.experts.models import Credential
from rlhf_platform.experts.services import credential_submit
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_web(client, staff_user):
    client.force_login(staff_user)
    return client


def _detail(credential) -> str:
    return reverse("staff-credential", kwargs={"credential_id": credential.pk})


def _action(name: str, credential) -> str:
    return reverse(f"staff-credential-{name}", kwargs={"credential_id": credential.pk})


def test_queue_lists_submitted_credentials_oldest_first(staff_web):
    now = timezone.now()
    newer = CredentialFactory(created_at=now - dt.timedelta(hours=1), title="Newer")
    older = CredentialFactory(created_at=now - dt.timedelta(days=2), title="Older")
    CredentialFactory(approved=True, title="Done already")
    response = staff_web.get(reverse("staff-queue"))
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [older, newer]
    assert b"Done already" not in response.content


def test_queue_filters_by_status_and_shows_everything_with_an_empty_status(staff_web):
    submitted = CredentialFactory()
    approved = CredentialFactory(approved=True)
    response = staff_web.get(reverse("staff-queue"), {"status": "approved"})
    assert list(response.context["page"].object_list) == [approved]
    response = staff_web.get(reverse("staff-queue"), {"status": ""})
    assert set(response.context["page"].object_list) == {submitted, approved}


def test_staff_pages_refuse_experts_and_ask_visitors_to_log_in(client, expert):
    credential = CredentialFactory()
    urls = [reverse("staff-queue"), _detail(credential)]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(expert.user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(_action("approve", credential), {"level": "4"}).status_code == 403
    assert client.post(_action("reject", credential), {"reject-reason": "no"}).status_code == 403
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_detail_shows_expert_evidence_link_history_and_default_level(staff_web, expert, domain):
    from django.core.files.uploadedfile import SimpleUploadedFile

    credential = credential_submit(
        expert=expert,
        domain=domain,
        kind="certification",
        title="ACLS",
        issuer="AHA",
        issued_on=timezone.now().date() - dt.timedelta(days=30),
        evidence=SimpleUploadedFile("acls.pdf", b"%PDF-1.4\n%%EOF\n"),
    )
    response = staff_web.get(_detail(credential))
    assert response.status_code == 200
    html = response.content.decode()
    assert expert.user.email in html and expert.pseudonym in html
    assert reverse("api-credential-evidence", kwargs={"credential_id": credential.pk}) in html
    assert "credential.submit" in html
    assert response.context["approve_form"]["level"].value() == 2  # certification's default
    assert response.context["show_reject"] and not response.context["show_revoke"]


def test_unknown_credential_is_not_found(staff_web):
    import uuid

    assert (
        staff_web.get(reverse("staff-credential", kwargs={"credential_id": uuid.uuid4()})).status_code == 404
    )


def test_approving_at_level_three_records_the_decision(staff_web, staff_user):
    credential = CredentialFactory()
    response = staff_web.post(_action("approve", credential), {"level": "3"})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.status, credential.level, credential.reviewed_by) == ("approved", 3, staff_user)
    page = staff_web.get(_detail(credential))
    assert b"Approved at level 3." in page.content
    assert b"credential.approve" in page.content
    assert page.context["show_revoke"] and not page.context["show_approve"]


def test_rejecting_without_a_reason_shows_the_service_message(staff_web):
    credential = CredentialFactory()
    response = staff_web.post(_action("reject", credential), {"reject-reason": "   "})
    assert response.status_code == 200
    assert response.context["reject_form"].errors["reason"] == ["Say why the credential is rejected."]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_rejecting_with_a_reason_shows_it_to_the_expert(staff_web, client):
    credential = CredentialFactory()
    response = staff_web.post(_action("reject", credential), {"reject-reason": "The scan is illegible."})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REJECTED
    assert credential.decision_reason == "The scan is illegible."
    client.force_login(credential.expert.user)
    assert b"The scan is illegible." in client.get(reverse("profile")).content


def test_revoking_an_approved_credential_needs_a_reason(staff_web):
    credential = CredentialFactory(approved=True)
    response = staff_web.post(_action("revoke", credential), {"revoke-reason": ""})
    assert response.context["revoke_form"].errors["reason"] == ["Say why the credential is revoked."]
    response = staff_web.post(
        _action("revoke", credential), {"revoke-reason": "Licence withdrawn by the board."}
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED
    assert [e.action for e in audit_events_for(target=credential)] == ["credential.revoke"]


def test_an_illegal_transition_shows_the_service_message(staff_web):
    credential = CredentialFactory(status=Credential.Status.REJECTED, decision_reason="No.")
    response = staff_web.post(_action("approve", credential), {"level": "3"})
    assert response.status_code == 200
    [message] = response.context["approve_form"].non_field_errors()
    assert "rejected" in message and "cannot become approved" in message
    assert message.encode() in response.content
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REJECTED


def test_a_level_outside_one_to_four_is_refused(staff_web):
    credential = CredentialFactory()
    response = staff_web.post(_action("approve", credential), {"level": "7"})
    assert response.status_code == 200
    assert "level" in response.context["approve_form"].errors
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED
