"""``/api/schema/`` is generated and rendered once per process and format: the same bytes and
headers as drf-spectacular's own view, whatever the query string or the Accept parameters."""

from __future__ import annotations

import threading

import pytest
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView

from rlhf_platform.core.schema_view import SchemaView

HEADERS = ("Content-Type", "Content-Disposition", "Vary")


@pytest.fixture
def generations(monkeypatch):
    calls = []
    real = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    return calls


ACCEPTS = ["", "application/vnd.oai.openapi+json", "application/json", "application/yaml"]


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_kept_schema_is_drf_spectaculars_answer_byte_for_byte(client, accept):
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    ours = client.get("/api/schema/", **extra)
    again = client.get("/api/schema/", **extra)  # from the kept bytes
    stock = SpectacularAPIView.as_view()(RequestFactory().get("/api/schema/", **extra))
    stock.render()
    assert ours.status_code == again.status_code == stock.status_code == 200
    assert ours.content == again.content == stock.content
    for name in HEADERS:
        assert ours.get(name) == again.get(name), name
    assert ours["Content-Type"] == stock["Content-Type"]
    assert ours["Content-Disposition"] == stock["Content-Disposition"]


@pytest.mark.django_db
def test_a_flood_of_requests_generates_once_per_format_whatever_it_asks(client, generations):
    for n in range(20):
        client.get(f"/api/schema/?lang=x{n}&version={n}")
        client.get("/api/schema/", HTTP_ACCEPT=f"application/vnd.oai.openapi+json; q=1; v={n}")
        client.get("/api/schema/?format=json")
    assert len(generations) == 2  # YAML, and JSON under its OpenAPI media type
    assert len(SchemaView._rendered) == 2
    client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert len(generations) == 3 and len(SchemaView._rendered) == 3


@pytest.mark.django_db(transaction=True)
def test_the_first_requests_wait_for_one_rendering(generations):
    from django.test import Client

    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(len(Client().get("/api/schema/").content)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 4 and len(set(answers)) == 1 and answers[0] > 100_000
    assert len(generations) == 1
