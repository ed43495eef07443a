"""Who reaches the lab console: every console URL answers 404 to a member of another lab (the lab
is not revealed), and a lab's plain member sees but cannot manage keys, members or webhooks."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from rewards.models import RewardPolicy
from rlhf_platform.accounts.models import ApiKey, LabMembership
from rlhf_platform.labconsole.urls import web_urlpatterns
from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import (
    BatchFactory,
    ExpertProfileFactory,
    LabMembershipFactory,
    ProjectFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

POST_ONLY = {
    "lab-schema-preview",
    "lab-batch-cancel",
    "lab-member-change",
    "lab-webhook-resend",
    "lab-reward-policy-new",
    "lab-exam-new",
    "lab-webhook-change",
}


@pytest.fixture
def lab():
    return LabMembershipFactory(role=LabMembership.Role.OWNER, lab__slug="acme").lab


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _console_urls(lab) -> list[tuple[str, str]]:
    """Every console URL with the lab's real objects (the project, its batch, a delivery)."""
    project = ProjectFactory(lab=lab)
    batch = BatchFactory(project=project)
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(lab=lab), status="failed")
    owner = LabMembership.objects.filter(lab=lab).first()
    values = {
        "webhook_id": delivery.endpoint_id,
        "slug": lab.slug,
        "project_id": project.pk,
        "batch_id": batch.pk,
        "delivery_id": delivery.pk,
        "user_id": owner.user_id,
    }
    urls = []
    for pattern in web_urlpatterns:
        kwargs = {name: values[name] for name in pattern.pattern.converters}
        urls.append((pattern.name, reverse(pattern.name, kwargs=kwargs)))
    return urls


@pytest.mark.parametrize("role", [LabMembership.Role.OWNER, LabMembership.Role.MEMBER])
def test_a_member_of_another_lab_gets_404_on_every_console_url(lab, role):
    stranger = LabMembershipFactory(role=role).user  # owner or member of another lab
    client = _client(stranger)
    urls = _console_urls(lab)
    assert len(urls) == len(web_urlpatterns) > 10
    assert POST_ONLY <= {name for name, _url in urls}
    for name, url in urls:
        if url == "/labs/":
            continue  # their own labs only
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            # Refused before the lab is looked up, naming no lab: a GET of a POST-only action
            # (405), a POST their role cannot make in any lab (403).
            expected = {404}
            if method == "get" and name in POST_ONLY:
                expected = {404, 405}
            elif method == "post":
                expected = {403, 404}
            assert response.status_code in expected, (method, url, response.status_code)
    assert WebhookDelivery.objects.get().status == "failed"  # the resend did nothing
    assert WebhookEndpoint.objects.get().is_active  # nor the pause or the delete
    assert lab.slug.encode() not in client.get("/labs/").content


def test_a_person_in_no_lab_is_refused_and_a_visitor_sent_to_log_in(lab):
    url = f"/labs/{lab.slug}/"
    assert _client(ExpertProfileFactory().user).get(url).status_code == 403
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_member_works_on_projects_but_cannot_manage_keys_members_or_webhooks(lab):
    member = LabMembershipFactory(lab=lab, role=LabMembership.Role.MEMBER).user
    client = _client(member)
    owner = LabMembership.objects.get(lab=lab, role=LabMembership.Role.OWNER).user
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(lab=lab), status="failed")
    newcomer = UserFactory()
    make_api_key(lab)
    project = ProjectFactory(lab=lab)

    assert client.get(f"/labs/{lab.slug}/").status_code == 200
    assert client.get(f"/labs/{lab.slug}/projects/new/").status_code == 200
    assert client.get(f"/labs/{lab.slug}/members/").status_code == 200
    assert client.get(f"/labs/{lab.slug}/webhooks/").status_code == 200

    refused = [
        client.post(f"/labs/{lab.slug}/keys/", {"name": "mine", "scopes": ["read"]}),
        client.post(f"/labs/{lab.slug}/keys/{ApiKey.objects.get().pk}/revoke/"),
        client.post(f"/labs/{lab.slug}/members/", {"email": newcomer.email, "role": "member"}),
        client.post(f"/labs/{lab.slug}/members/{owner.pk}/", {"role": "member"}),
        client.post(f"/labs/{lab.slug}/members/{owner.pk}/", {"remove": "1"}),
        client.post(f"/labs/{lab.slug}/webhooks/deliveries/{delivery.pk}/resend/"),
        client.post(
            f"/labs/{lab.slug}/webhooks/", {"url": "https://example.org/", "events": ["item.finalized"]}
        ),
        client.post(f"/labs/{lab.slug}/webhooks/{delivery.endpoint_id}/", {"op": "delete"}),
        client.post(
            f"/labs/{lab.slug}/projects/{project.pk}/reward-policies/",
            {"base_rate": "1", "kind": "agreement", "level_1": 1, "level_2": 1, "level_3": 1, "level_4": 1},
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert ApiKey.objects.filter(lab=lab).count() == 1 and ApiKey.objects.get().revoked_at is None
    assert LabMembership.objects.get(lab=lab, user=owner).role == LabMembership.Role.OWNER
    assert not LabMembership.objects.filter(user=newcomer).exists()
    delivery.refresh_from_db()
    assert delivery.status == "failed" and not RewardPolicy.objects.exists()
    assert WebhookEndpoint.objects.filter(lab=lab).count() == 1
    assert (
        "Add a reward policy version"
        not in client.get(f"/labs/{lab.slug}/projects/{project.pk}/").content.decode()
    )
    page = client.get(f"/labs/{lab.slug}/members/").content.decode()
    assert "Add a member" not in page and "Only the lab's owners" in page


def test_an_owner_adds_promotes_and_removes_a_member(lab):
    owner = LabMembership.objects.get(lab=lab).user
    client = _client(owner)
    newcomer = UserFactory()
    assert (
        client.post(f"/labs/{lab.slug}/members/", {"email": newcomer.email, "role": "member"}).status_code
        == 302
    )
    assert LabMembership.objects.get(lab=lab, user=newcomer).role == "member"
    client.post(f"/labs/{lab.slug}/members/{newcomer.pk}/", {"role": "owner"})
    assert LabMembership.objects.get(lab=lab, user=newcomer).role == "owner"
    client.post(f"/labs/{lab.slug}/members/{newcomer.pk}/", {"remove": "1"})
    assert not LabMembership.objects.filter(lab=lab, user=newcomer).exists()
    unknown = client.post(f"/labs/{lab.slug}/members/", {"email": "nobody@example.org", "role": "member"})
    assert unknown.status_code == 400 and "ask them to sign up first" in unknown.content.decode()
    missing = client.post(f"/labs/{lab.slug}/members/{uuid.uuid4()}/", {"role": "owner"})
    assert missing.status_code == 404
