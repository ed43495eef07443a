"""Four eyes on every trust decision: nobody decides on their own case (their own credential,
their own suspension, items they labelled), and Django's ``is_staff`` flag alone is no platform
role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotate.models import Item, Label
from annotate.quality.adjudication import item_adjudicate
from annotate.quality.suspension import project_suspend, suspension_appeal, suspension_decide
from rlhf_platform.accounts.models import User
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Credential
from rlhf_platform.experts.services import credential_approve, credential_reject, credential_revoke
from tests.factories import (
    BatchFactory,
    CredentialFactory,
    ExpertProfileFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
    UserFactory,
)
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _code(response) -> str:
    return response.json()["errors"][0]["code"]


# --- Credentials ------------------------------------------------------------------------------


@pytest.fixture
def reviewer_expert():
    """A reviewer who is also an expert, with a credential of their own waiting for review."""
    profile = ExpertProfileFactory(user=StaffFactory())
    return profile, CredentialFactory(expert=profile)


def test_a_reviewer_cannot_approve_their_own_credential(reviewer_expert):
    profile, credential = reviewer_expert
    with pytest.raises(ApplicationError) as refused:
        credential_approve(credential=credential, reviewer=profile.user, level=4)
    assert (refused.value.code, refused.value.status_code) == ("four_eyes_own_credential", 403)
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED and credential.level is None


def test_a_reviewer_cannot_reject_or_revoke_their_own_credential(reviewer_expert):
    profile, credential = reviewer_expert
    with pytest.raises(ApplicationError) as refused:
        credential_reject(credential=credential, reviewer=profile.user, reason="no")
    assert refused.value.code == "four_eyes_own_credential"
    approved = CredentialFactory(expert=profile, approved=True)
    with pytest.raises(ApplicationError) as refused:
        credential_revoke(credential=approved, reviewer=profile.user, reason="no")
    assert refused.value.code == "four_eyes_own_credential"


def test_the_api_and_the_page_refuse_approving_ones_own_credential(reviewer_expert, client):
    profile, credential = reviewer_expert
    response = _client(profile.user).post(
        f"/api/v1/staff/credentials/{credential.pk}/approve", {"level": 4}, format="json"
    )
    assert response.status_code == 403 and _code(response) == "four_eyes_own_credential"
    client.force_login(profile.user)
    assert b"another reviewer decides" in client.get(f"/staff/credentials/{credential.pk}/").content
    page = client.post(f"/staff/credentials/{credential.pk}/approve/", {"level": 4})
    assert b"another reviewer must" in page.content
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_another_reviewer_approves_the_reviewers_credential(reviewer_expert):
    _profile, credential = reviewer_expert
    other = StaffFactory()
    credential = credential_approve(credential=credential, reviewer=other, level=4)
    assert credential.status == Credential.Status.APPROVED and credential.reviewed_by == other


# --- Suspensions and appeals ------------------------------------------------------------------


def _suspended(expert):
    project = ProjectFactory(gold_rate=0)
    suspension = project_suspend(project=project, expert_id=expert.pk, reason="gold_accuracy")
    suspension_appeal(suspension=suspension, expert=expert, text="The gold answers are wrong here.")
    return suspension


def test_django_is_staff_alone_does_not_decide_suspensions():
    suspension = _suspended(ExpertProfileFactory())
    flag_only = UserFactory(is_staff=True)  # Django-admin access, no platform staff role
    with pytest.raises(ApplicationError) as refused:
        suspension_decide(suspension=suspension, actor=flag_only, decision="reinstate")
    assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    suspension.refresh_from_db()
    assert suspension.active


def test_a_reviewer_cannot_decide_the_appeal_of_their_own_suspension():
    profile = ExpertProfileFactory(user=StaffFactory())
    suspension = _suspended(profile)
    with pytest.raises(ApplicationError) as refused:
        suspension_decide(suspension=suspension, actor=profile.user, decision="reinstate")
    assert (refused.value.code, refused.value.status_code) == ("four_eyes_own_suspension", 403)
    response = _client(profile.user).post(
        f"/api/v1/staff/suspensions/{suspension.pk}/decide", {"decision": "reinstate"}, format="json"
    )
    assert response.status_code == 403 and _code(response) == "four_eyes_own_suspension"
    suspension.refresh_from_db()
    assert suspension.active and suspension.appeal == "pending"
    suspension_decide(suspension=suspension, actor=StaffFactory(), decision="reinstate")
    suspension.refresh_from_db()
    assert not suspension.active


# --- Adjudication -----------------------------------------------------------------------------


def _item_in_adjudication():
    """An item two experts disagreed on, waiting for adjudication."""
    project = ProjectFactory(gold_rate=0, overlap=2, max_overlap=2)
    item = ItemFactory(batch=BatchFactory(project=project), state=Item.State.ADJUDICATION)
    for choice in ("A", "B"):
        LabelFactory(item=item, expert=expert_for(project), choice=choice, strength=1)
    return item


def test_a_reviewer_cannot_adjudicate_an_item_they_labelled():
    item = _item_in_adjudication()
    labeller = Label.objects.filter(item=item).first().expert.user
    labeller.is_staff, labeller.staff_role = True, User.StaffRole.REVIEWER
    labeller.save()
    with pytest.raises(ApplicationError) as refused:
        item_adjudicate(item=item, actor=labeller, decision={"choice": "A"})
    assert (refused.value.code, refused.value.status_code) == ("four_eyes_own_labels", 403)
    response = _client(labeller).post(
        f"/api/v1/adjudication/{item.uid}/decide", {"choice": "A"}, format="json"
    )
    assert response.status_code == 403 and _code(response) == "four_eyes_own_labels"
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION
    item_adjudicate(item=item, actor=StaffFactory(), decision={"choice": "A"})


def test_django_is_staff_alone_does_not_adjudicate():
    item = _item_in_adjudication()
    with pytest.raises(ApplicationError) as refused:
        item_adjudicate(item=item, actor=UserFactory(is_staff=True), decision={"choice": "A"})
    assert refused.value.code == "permission_denied"
