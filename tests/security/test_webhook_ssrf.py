# ruff: noqa: F811 (make_receiver is a fixture, imported and then requested by name)
"""Webhooks cannot be aimed at the platform's own network (SSRF), by DNS or by disguise.

A fake resolver stands in for DNS: it answers a public address first and 127.0.0.1 afterwards
(DNS rebinding with a zero TTL), or maps a host name to any address a test needs.
"""

from __future__ import annotations

import socket

import pytest
from django.db import transaction

from rlhf_platform.webhooks.models import WebhookAttempt
from rlhf_platform.webhooks.services import webhook_attempt, webhook_emit, webhook_endpoint_create
from tests.webhooks.conftest import make_receiver  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeResolver:
    """``socket.getaddrinfo`` for the names in ``answers`` (each a list of answers, one per
    lookup, the last repeating); every other name goes to the real resolver."""

    def __init__(self, real) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]


@pytest.fixture
def resolver(monkeypatch, settings) -> FakeResolver:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    fake = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def connections(monkeypatch) -> list[tuple]:
    """Connections to the fake public addresses are recorded and refused (no traffic leaves
    the machine); every other connection is made for real."""
    made: list[tuple] = []
    real = socket.create_connection

    def create_connection(address, *args, **kwargs):
        if address[0] in (PUBLIC, PUBLIC_V6):
            made.append(address)
            raise ConnectionRefusedError("test: no traffic to the public internet")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return made


def _register(lab, url: str):
    return webhook_endpoint_create(lab=lab, url=url, events=["batch.completed"])[0]


def _attempt_once(lab) -> WebhookAttempt:
    with transaction.atomic():
        [delivery] = webhook_emit(lab_id=lab.pk, event="batch.completed", data={"batch_id": "b-1"})
    webhook_attempt(delivery_id=delivery.pk)
    return WebhookAttempt.objects.get(delivery=delivery)


def test_dns_rebinding_does_not_reach_a_private_address(lab, resolver, connections, make_receiver):
    receiver = make_receiver([200])
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    # Public for the check at registration and the next lookup, 127.0.0.1 from then on.
    resolver.answers["rebind.example"] = [[PUBLIC], [PUBLIC], ["127.0.0.1"]]
    _register(lab, f"http://rebind.example:{port}/hooks/")

    attempt = _attempt_once(lab)

    assert receiver.receipts == []
    assert attempt.status_code is None
    # The attempt connected to the address it checked, and looked the name up once for it.
    assert connections == [(PUBLIC, port)]
    assert resolver.lookups == ["rebind.example", "rebind.example"]


def test_a_host_that_rebinds_to_private_before_the_attempt_is_refused(
    lab, resolver, connections, make_receiver
):
    receiver = make_receiver([200])
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    resolver.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    _register(lab, f"http://rebind.example:{port}/hooks/")

    attempt = _attempt_once(lab)

    assert attempt.error.startswith("private_target")
    assert receiver.receipts == [] and connections == []


def test_one_private_address_among_public_ones_is_refused(lab, resolver, lab_client):
    resolver.answers["mixed.example"] = [[PUBLIC, "10.0.0.5"]]
    response = lab_client.post(
        "/api/v1/webhooks", {"url": "https://mixed.example/h", "events": ["batch.completed"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "private_target"


PRIVATE_DISGUISED = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.1.2.3",
    "::127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254 (cloud metadata)
    "::ffff:0:7f00:1",  # SIIT IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "127.0.0.1",
    "10.0.0.1",
    "169.254.169.254",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "::1",
    "fd00::1",
    "fe80::1",
    "224.0.0.1",
]


@pytest.mark.parametrize("address", PRIVATE_DISGUISED)
def test_private_addresses_in_every_form_are_refused(address, resolver, lab_client):
    resolver.answers["target.example"] = [[address]]
    response = lab_client.post(
        "/api/v1/webhooks", {"url": "https://target.example/h", "events": ["batch.completed"]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0] == {
        "field": "url",
        "code": "private_target",
        "message": "The URL points to a private or local address.",
    }


@pytest.mark.parametrize(
    "address", [PUBLIC, PUBLIC_V6, "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1"]
)
def test_public_addresses_are_accepted(address, resolver, lab_client):
    resolver.answers["target.example"] = [[address]]
    response = lab_client.post(
        "/api/v1/webhooks", {"url": "https://target.example/h", "events": ["batch.completed"]}, format="json"
    )
    assert response.status_code == 201, response.content


def test_a_redirect_is_not_followed(lab, make_receiver, settings):
    # Private targets allowed (the receiver is on 127.0.0.1): a 3xx is a failed attempt and its
    # Location is never requested, so a public endpoint cannot bounce the request inward.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = make_receiver([302, 200])
    _register(lab, receiver.url)

    attempt = _attempt_once(lab)

    assert (attempt.status_code, attempt.error) == (302, "HTTP 302")
    assert len(receiver.receipts) == 1
