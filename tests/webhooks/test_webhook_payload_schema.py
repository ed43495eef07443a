"""Every webhook payload the platform sends fits the ``WebhookEvent`` component of the OpenAPI
schema, and its ``data`` the component of its event: each event is emitted here through the
code that sends it in production."""

from __future__ import annotations

import pytest
from django.db import transaction

from annotate.finalize import item_finalize
from annotate.quality.revisions import consensus_revision_record
from rlhf_platform.webhooks.models import EVENTS, WebhookDelivery
from rlhf_platform.webhooks.openapi import EVENT_DATA
from rlhf_platform.webhooks.services import TEST_EVENT, webhook_endpoint_create, webhook_endpoint_test
from tests.factories import (
    BatchFactory,
    ItemConsensusFactory,
    ItemFactory,
    ProjectFactory,
    item_payload,
    ndjson_body,
)
from tests.openapi_schema import openapi_schema, schema_errors

EVENT = {"$ref": "#/components/schemas/WebhookEvent"}


def _data_component(event: str) -> dict:
    return {"$ref": "#/components/schemas/" + EVENT_DATA[event][0]}


def test_the_schema_documents_every_event_and_the_deliveries():
    schema = openapi_schema()
    components = schema["components"]["schemas"]
    assert set(components["WebhookEvent"]["properties"]["type"]["enum"]) == {*EVENTS, TEST_EVENT}
    assert set(EVENT_DATA) == {*EVENTS, TEST_EVENT}
    assert components["WebhookDeliveryOutput"]["properties"]["payload"] == EVENT
    callback = schema["paths"]["/api/v1/webhooks"]["post"]["callbacks"]["delivery"]
    body = callback["{$request.body#/url}"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == EVENT
    assert schema["openapi"].startswith("3.1")
    assert set(schema["webhooks"]) == {*EVENTS, TEST_EVENT}


def _webhook_body(event: str) -> dict:
    return openapi_schema()["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]["schema"]


@pytest.mark.django_db(transaction=True)
def test_every_emitted_payload_fits_its_component(lab_client, lab):
    project = ProjectFactory(lab=lab)
    endpoint, _secret = webhook_endpoint_create(lab=lab, url="http://127.0.0.1:9/hook", events=list(EVENTS))

    upload = lab_client.post(
        f"/api/v1/projects/{project.pk}/batches",
        data=ndjson_body([item_payload("w-1")]),
        content_type="application/x-ndjson",
    )
    assert upload.status_code == 201, upload.json()
    batch = BatchFactory(project=project)
    item = ItemFactory(batch=batch)
    ItemConsensusFactory(item=item, choice="A", strength=2)
    item_finalize(item=item)  # item.finalized, batch.completed (project.completed: w-1 is open)
    was = {"choice": "B", "strength": 1, "ranking": None, "confidence": 0.7, "label_count": 3}
    with transaction.atomic():  # it locks the consensus row, as its callers' transactions do
        consensus_revision_record(item=item, project=project, was=was, suspension_id=None)
    webhook_endpoint_test(endpoint=endpoint)
    other = ProjectFactory(lab=lab)
    last = ItemFactory(batch=BatchFactory(project=other))
    ItemConsensusFactory(item=last)
    item_finalize(item=last)  # and project.completed

    payloads = {d.event: d.payload for d in WebhookDelivery.objects.all()}
    assert set(payloads) == {*EVENTS, TEST_EVENT}
    for event, payload in payloads.items():
        assert payload["type"] == event
        assert schema_errors(payload, EVENT) == [], (event, payload)
        assert schema_errors(payload["data"], _data_component(event)) == [], (event, payload["data"])
        assert schema_errors(payload, _webhook_body(event)) == [], (event, payload)
        other = next(e for e in payloads if e != event)
        assert schema_errors({**payload, "type": other}, _webhook_body(event)), (event, other)
