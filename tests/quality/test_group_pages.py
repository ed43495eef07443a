"""The staff page and API of suspected groups: members with their evidence (hashed devices,
never an address), one decision for all members, refusals shown at the form, the member's own
group refused (four eyes), and nothing for non-staff."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from annotate.models import AnnotatorGroup, ProjectSuspension
from annotate.quality.groups import project_groups_detect
from rlhf_platform.accounts.fingerprints import login_fingerprint_record
from rlhf_platform.audit.models import AuditEvent
from tests.factories import (
    BatchFactory,
    CredentialFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

ADDRESS = "192.0.2.44"


def _group(n: int = 3) -> tuple[AnnotatorGroup, list]:
    project = ProjectFactory(name="Chemistry answers")
    item = ItemFactory(batch=BatchFactory(project=project), slots=n)
    experts = [CredentialFactory(approved=True, domain=project.domain).expert for _ in range(n)]
    for expert in experts:
        LabelFactory(item=item, expert=expert)
        request = RequestFactory().post("/login/", REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT="Same/1.0")
        login_fingerprint_record(request=request, user=expert.user)
    project_groups_detect(project=project)
    return AnnotatorGroup.objects.get(project=project), experts


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_staff_page_shows_each_group_with_its_members_and_evidence_but_no_address():
    group, experts = _group()
    page = _client(StaffFactory()).get("/staff/groups/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Chemistry answers" in html and "log-ins from 1 shared device(s)" in html
    assert all(e.pseudonym in html for e in experts)
    assert group.evidence["edges"][0]["signals"]["fingerprint"]["devices"][0] in html
    assert ADDRESS not in html and "Same/1.0" not in html
    assert 'name="decision"' in html


def test_one_decision_on_the_page_confirms_every_member():
    group, experts = _group()
    reply = _client(StaffFactory()).post(
        f"/staff/groups/{group.pk}/decide/", {"decision": "confirm", "note": "One device, one person."}
    )
    assert reply.status_code == 302
    group.refresh_from_db()
    assert group.status == "confirmed"
    assert ProjectSuspension.objects.filter(reason="group", active=True).count() == 3


def test_a_refused_decision_is_shown_at_its_form_with_the_note_kept():
    group, _ = _group()
    reply = _client(StaffFactory()).post(
        f"/staff/groups/{group.pk}/decide/", {"decision": "confirm", "note": "x"}
    )
    assert reply.status_code == 200
    assert "at least 10 characters" in reply.content.decode()
    group.refresh_from_db()
    assert group.status == "suspected"


def test_the_api_lists_and_decides_and_refuses_a_member_deciding_on_their_own_group():
    group, experts = _group()
    member = experts[0].user
    member.is_staff, member.staff_role = True, "reviewer"
    member.save()
    client = APIClient()
    client.force_login(member)
    listed = client.get("/api/v1/staff/groups", {"project": str(group.project_id)})
    assert listed.status_code == 200
    row = listed.json()["results"][0]
    assert row["status"] == "suspected" and row["signals"] == ["fingerprint"] and len(row["members"]) == 3
    refused = client.post(f"/api/v1/staff/groups/{group.pk}/decide", {"decision": "clear"}, format="json")
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "four_eyes_own_group"

    other = APIClient()
    other.force_login(StaffFactory())
    decided = other.post(
        f"/api/v1/staff/groups/{group.pk}/decide",
        {"decision": "clear", "note": "Lab machines."},
        format="json",
    )
    assert decided.status_code == 200 and decided.json()["status"] == "cleared"
    assert AuditEvent.objects.filter(action="quality.group_clear", target_id=str(group.pk)).exists()
    again = other.post(f"/api/v1/staff/groups/{group.pk}/decide", {"decision": "confirm"}, format="json")
    assert again.status_code == 409


def test_experts_cannot_see_or_decide_groups():
    group, _ = _group()
    client = APIClient()
    client.force_login(ExpertProfileFactory().user)
    assert client.get("/api/v1/staff/groups").status_code == 403
    assert (
        client.post(
            f"/api/v1/staff/groups/{group.pk}/decide", {"decision": "clear"}, format="json"
        ).status_code
        == 403
    )
    assert _client(ExpertProfileFactory().user).get("/staff/groups/").status_code in (302, 403)
