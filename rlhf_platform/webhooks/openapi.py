"""The webhook payloads as OpenAPI components, and the requests the platform sends documented
twice: one OpenAPI 3.1 top-level ``webhooks`` entry per event (its body a ``WebhookEvent`` of
that type, with that event's ``data``), and the callback of ``POST /api/v1/webhooks``.

Every delivery's body is a ``WebhookEvent``: ``{id, type, created, data}``, ``data`` one of
the event's components below; ``tests/webhooks/test_webhook_payload_schema.py`` emits each
event through the code that sends it and validates its payload against these.
"""

from __future__ import annotations

from rlhf_platform.webhooks.models import EVENTS
from rlhf_platform.webhooks.services import TEST_EVENT

_REF = "#/components/schemas/"
_UUID = {"type": "string", "format": "uuid"}


def _object(properties: dict, description: str, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": sorted(properties) if required is None else required,
        "additionalProperties": False,
    }


CONSENSUS = _object(
    {
        "choice": {"type": "string", "nullable": True},
        "strength": {"type": "integer", "nullable": True},
        "ranking": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
            "nullable": True,
        },
        "confidence": {"type": "number"},
        "label_count": {"type": "integer"},
    },
    "An item's consensus as it was delivered.",
)

# event type -> (component name, data schema)
EVENT_DATA = {
    "batch.ingested": (
        "WebhookBatchIngested",
        _object(
            {
                "batch": _UUID,
                "project": _UUID,
                "items_created": {"type": "integer"},
                "items_skipped": {"type": "integer"},
            },
            "A batch's items are in the queue.",
        ),
    ),
    "batch.completed": (
        "WebhookBatchCompleted",
        _object({"batch": _UUID, "project": _UUID}, "Every item of the batch is final or cancelled."),
    ),
    "item.finalized": (
        "WebhookItemFinalized",
        _object(
            {"item": _UUID, "external_id": {"type": "string"}, "project": _UUID, "batch": _UUID},
            "An item's consensus is final: export it.",
        ),
    ),
    "item.consensus_revised": (
        "WebhookItemConsensusRevised",
        _object(
            {
                "item": _UUID,
                "external_id": {"type": "string"},
                "project": _UUID,
                "batch": _UUID,
                "was": {"allOf": [{"$ref": _REF + "WebhookConsensus"}], "nullable": True},
                "now": {"allOf": [{"$ref": _REF + "WebhookConsensus"}], "nullable": True},
                "at": {"type": "string", "format": "date-time"},
                "reason": {"type": "string"},
                "suspension": {**_UUID, "nullable": True},
            },
            "A final item's consensus changed (labels excluded after a suspension).",
        ),
    ),
    "project.completed": (
        "WebhookProjectCompleted",
        _object({"project": _UUID}, "Every item of the project is final or cancelled."),
    ),
    TEST_EVENT: (
        "WebhookTest",
        _object(
            {"webhook_id": _UUID, "message": {"type": "string"}}, "Sent on request (POST webhooks/{id}/test)."
        ),
    ),
}


def webhook_schemas() -> dict[str, dict]:
    event = _object(
        {
            "id": {**_UUID, "description": "The event's id: the same for every endpoint and every attempt."},
            "type": {"type": "string", "enum": [*EVENTS, TEST_EVENT]},
            "created": {"type": "string", "format": "date-time"},
            "data": {"anyOf": [{"$ref": _REF + name} for name, _ in EVENT_DATA.values()]},
        },
        "The body of every webhook delivery, signed in X-Rlhf-Signature.",
    )
    return {
        "WebhookEvent": event,
        "WebhookConsensus": CONSENSUS,
        **{name: schema for name, schema in EVENT_DATA.values()},
    }


CALLBACK = {
    "{$request.body#/url}": {
        "post": {
            "summary": "A delivery to the endpoint",
            "description": "Each subscribed event as a signed JSON POST: "
            '`X-Rlhf-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`. A 2xx answer '
            "within the timeout is a delivery; anything else is retried with exponential backoff.",
            "parameters": [
                {
                    "in": "header",
                    "name": "X-Rlhf-Signature",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF + "WebhookEvent"}}},
            },
            "responses": {"2XX": {"description": "Received."}},
        }
    }
}


def webhook_operations() -> dict[str, dict]:
    """The top-level ``webhooks`` of OpenAPI 3.1: for each event, the POST the platform sends
    to a subscribed endpoint."""
    delivery = CALLBACK["{$request.body#/url}"]["post"]
    out = {}
    for event, (name, schema) in EVENT_DATA.items():
        body = {
            "allOf": [
                {"$ref": _REF + "WebhookEvent"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": [event]},
                        "data": {"$ref": _REF + name},
                    },
                },
            ]
        }
        out[event] = {
            "post": {
                **delivery,
                "operationId": "webhook_" + event.replace(".", "_"),
                "summary": f"{event}: {schema['description']}",
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            }
        }
    return out


def document_webhook_payloads(result, generator, request, public):
    """drf-spectacular postprocessing hook: the payload components, each delivery's ``payload``
    typed as a ``WebhookEvent``, the deliveries as the top-level ``webhooks`` (OpenAPI 3.1)
    and as callbacks of registering an endpoint."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in webhook_schemas().items():
        schemas.setdefault(name, schema)
    delivery = schemas.get("WebhookDeliveryOutput", {}).get("properties", {})
    if "payload" in delivery:
        delivery["payload"] = {"$ref": _REF + "WebhookEvent"}
    register = result.get("paths", {}).get("/api/v1/webhooks", {}).get("post")
    if register is not None:
        register.setdefault("callbacks", {})["delivery"] = CALLBACK
    if str(result.get("openapi", "")).startswith("3.1"):
        result.setdefault("webhooks", {}).update(webhook_operations())
    return result
