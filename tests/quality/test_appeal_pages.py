"""The suspension pages: an expert's "My suspensions" with its appeal form (own suspensions
only, the service's refusals shown at the field with the text kept), and the staff page of
pending appeals where staff reinstate or uphold; refused to anyone but staff."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from annotate.models import AnnotatorQuality, ProjectSuspension
from annotate.quality.suspension import DECISIONS, project_suspend, suspension_appeal
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ExpertProfileFactory, ProjectFactory, StaffFactory

pytestmark = pytest.mark.django_db

APPEAL = "The check items on dosage were ambiguous; see section 3 of the guidelines."
REINSTATE, UPHOLD = DECISIONS  # the service's own values: ("reinstate", "uphold")


def _suspend(expert, project=None, **fields) -> ProjectSuspension:
    """A suspension through the service, with the gold rule's evidence."""
    project = project or ProjectFactory()
    details = {"passed": 0, "failed": 5, "mean": 0.1429, "high": 0.4507, "gold_threshold": 0.7}
    suspension = project_suspend(
        project=project, expert_id=expert.pk, reason="gold_accuracy", details=details
    )
    if fields:
        ProjectSuspension.objects.filter(pk=suspension.pk).update(**fields)
        suspension.refresh_from_db()
    return suspension


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def expert():
    return ExpertProfileFactory()


@pytest.fixture
def suspension(expert):
    return _suspend(expert, ProjectFactory(name="Oncology answers"))


@pytest.fixture
def staff():
    return StaffFactory()


# --- The expert's page ----------------------------------------------------------------------


def test_expert_sees_own_suspensions_with_evidence_and_not_others(expert, suspension):
    other = _suspend(ExpertProfileFactory(), ProjectFactory(name="Someone else's project"))
    page = _client(expert.user).get("/suspensions/").content.decode()
    assert "Oncology answers" in page and f'id="suspension-{suspension.pk}"' in page
    assert "0 of 5 answered as expected" in page and "standard of 70%" in page
    assert "Someone else&#x27;s project" not in page and str(other.pk) not in page
    assert 'name="text"' in page  # active and not appealed: the form


def test_the_nav_links_to_the_suspensions_page(expert):
    page = _client(expert.user).get("/suspensions/").content.decode()
    assert 'href="/suspensions/"' in page and "You have no suspensions." in page
    assert 'href="/staff/appeals/"' not in page


def test_appeal_creates_a_pending_appeal_and_its_audit_row_then_redirects(expert, suspension):
    client = _client(expert.user)
    response = client.post(f"/suspensions/{suspension.pk}/appeal/", {"text": APPEAL})
    assert response.status_code == 302 and response["Location"] == "/suspensions/"
    suspension.refresh_from_db()
    assert suspension.appeal == ProjectSuspension.Appeal.PENDING and suspension.appeal_text == APPEAL
    event = AuditEvent.objects.get(action="quality.appeal", target_id=str(suspension.pk))
    assert event.actor == expert.user and event.data["text"] == APPEAL
    page = client.get("/suspensions/").content.decode()
    assert "Appeal sent for “Oncology answers”" in page
    assert "pending" in page and "ambiguous; see section 3" in page
    assert 'name="text"' not in page  # appealed once: no form any more


def test_too_short_appeal_shows_the_error_at_the_field_and_keeps_the_text(expert, suspension):
    response = _client(expert.user).post(f"/suspensions/{suspension.pk}/appeal/", {"text": "unfair"})
    assert response.status_code == 200
    form = next(row["form"] for row in response.context["rows"] if row["suspension"].pk == suspension.pk)
    assert form.errors == {"text": ["Explain your appeal (at least 10 characters)."]}
    page = response.content.decode()
    assert "Explain your appeal (at least 10 characters)." in page
    assert "unfair</textarea>" in page
    suspension.refresh_from_db()
    assert suspension.appeal == ProjectSuspension.Appeal.NONE
    assert not AuditEvent.objects.filter(action="quality.appeal").exists()


def test_a_second_appeal_is_refused_with_the_message(expert, suspension):
    client = _client(expert.user)
    client.post(f"/suspensions/{suspension.pk}/appeal/", {"text": APPEAL})
    again = client.post(f"/suspensions/{suspension.pk}/appeal/", {"text": "One more try, please."})
    assert again.status_code == 200
    page = again.content.decode()
    assert "This suspension was already appealed (pending)." in page
    assert "One more try, please.</textarea>" in page
    suspension.refresh_from_db()
    assert suspension.appeal_text == APPEAL
    assert AuditEvent.objects.filter(action="quality.appeal").count() == 1


def test_an_ended_suspension_shows_the_decision_and_no_form(expert):
    _suspend(
        expert,
        active=False,
        appeal=ProjectSuspension.Appeal.REINSTATED,
        appeal_text=APPEAL,
        appealed_at=timezone.now() - dt.timedelta(days=1),
        decided_at=timezone.now(),
        decision_note="The dosage golds were wrong; removed.",
    )
    page = _client(expert.user).get("/suspensions/").content.decode()
    assert "ended" in page and "Reinstated on" in page and "The dosage golds were wrong; removed." in page
    assert 'name="text"' not in page


def test_appealing_someone_elses_suspension_is_not_found(suspension):
    stranger = ExpertProfileFactory()
    response = _client(stranger.user).post(f"/suspensions/{suspension.pk}/appeal/", {"text": APPEAL})
    assert response.status_code == 404
    suspension.refresh_from_db()
    assert suspension.appeal == ProjectSuspension.Appeal.NONE


def test_the_suspensions_page_needs_a_login():
    response = Client().get("/suspensions/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Staff ----------------------------------------------------------------------------------


def test_non_staff_cannot_see_or_decide_appeals(expert, suspension):
    suspension_appeal(suspension=suspension, expert=expert, text=APPEAL)
    client = _client(expert.user)
    assert client.get("/staff/appeals/").status_code == 403
    response = client.post(f"/staff/appeals/{suspension.pk}/decide/", {"decision": REINSTATE})
    assert response.status_code == 403
    suspension.refresh_from_db()
    assert suspension.active and suspension.appeal == ProjectSuspension.Appeal.PENDING
    anonymous = Client().get("/staff/appeals/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_staff_see_pending_appeals_oldest_first_with_a_report_link(staff):
    older_expert, newer_expert, quiet_expert = (ExpertProfileFactory() for _ in range(3))
    newer = _suspend(newer_expert, ProjectFactory(name="Newer"))
    older = _suspend(older_expert, ProjectFactory(name="Older"))
    not_appealed = _suspend(quiet_expert, ProjectFactory(name="Not appealed"))
    suspension_appeal(suspension=newer, expert=newer_expert, text="Newer appeal, sent second.")
    suspension_appeal(suspension=older, expert=older_expert, text="Older appeal, sent first.")
    ProjectSuspension.objects.filter(pk=older.pk).update(appealed_at=timezone.now() - dt.timedelta(hours=2))
    response = _client(staff).get("/staff/appeals/")
    assert response.status_code == 200
    assert [row["suspension"].pk for row in response.context["rows"]] == [older.pk, newer.pk]
    page = response.content.decode()
    assert page.index("Older appeal, sent first.") < page.index("Newer appeal, sent second.")
    assert older_expert.pseudonym in page and older_expert.user.email in page
    assert f'href="/staff/quality/projects/{older.project_id}/?status=suspended"' in page
    assert str(not_appealed.pk) not in page
    assert 'href="/staff/appeals/"' in page  # the nav link


def test_staff_reinstate_ends_the_suspension_as_the_service_does(staff, expert, suspension):
    suspension_appeal(suspension=suspension, expert=expert, text=APPEAL)
    client = _client(staff)
    response = client.post(
        f"/staff/appeals/{suspension.pk}/decide/", {"decision": REINSTATE, "note": "Ambiguous golds."}
    )
    assert response.status_code == 302 and response["Location"] == "/staff/appeals/"
    suspension.refresh_from_db()
    assert not suspension.active and suspension.appeal == ProjectSuspension.Appeal.REINSTATED
    assert suspension.decided_by == staff and suspension.decision_note == "Ambiguous golds."
    quality = AnnotatorQuality.objects.get(project=suspension.project, expert=expert)
    assert quality.status == AnnotatorQuality.Status.OK
    event = AuditEvent.objects.get(action="quality.reinstate", target_id=str(suspension.pk))
    assert event.actor == staff
    page = client.get("/staff/appeals/").content.decode()
    assert f"Reinstated: {expert.pseudonym} may label in “Oncology answers” again." in page
    assert "No appeal is waiting." in page
    mine = _client(expert.user).get("/suspensions/").content.decode()
    assert "Reinstated on" in mine and "Ambiguous golds." in mine


def test_staff_uphold_keeps_the_suspension_as_the_service_does(staff, expert, suspension):
    suspension_appeal(suspension=suspension, expert=expert, text=APPEAL)
    response = _client(staff).post(
        f"/staff/appeals/{suspension.pk}/decide/", {"decision": UPHOLD, "note": "Clear misses."}
    )
    assert response.status_code == 302
    suspension.refresh_from_db()
    assert suspension.active and suspension.appeal == ProjectSuspension.Appeal.UPHELD
    assert AuditEvent.objects.filter(action="quality.uphold", target_id=str(suspension.pk)).exists()
    mine = _client(expert.user).get("/suspensions/").content.decode()
    assert "Upheld on" in mine and "Clear misses." in mine and 'name="text"' not in mine


def test_a_decision_on_an_already_decided_appeal_shows_the_refusal(staff, expert, suspension):
    suspension_appeal(suspension=suspension, expert=expert, text=APPEAL)
    client = _client(staff)
    client.post(f"/staff/appeals/{suspension.pk}/decide/", {"decision": REINSTATE})
    late = client.post(f"/staff/appeals/{suspension.pk}/decide/", {"decision": UPHOLD, "note": "Too late."})
    assert late.status_code == 200
    page = late.content.decode()
    assert "This suspension has ended." in page and "Too late.</textarea>" in page
    suspension.refresh_from_db()
    assert not suspension.active and suspension.appeal == ProjectSuspension.Appeal.REINSTATED


def test_a_decision_is_required(staff, expert, suspension):
    suspension_appeal(suspension=suspension, expert=expert, text=APPEAL)
    response = _client(staff).post(f"/staff/appeals/{suspension.pk}/decide/", {"note": "Hmm."})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    suspension.refresh_from_db()
    assert suspension.appeal == ProjectSuspension.Appeal.PENDING
