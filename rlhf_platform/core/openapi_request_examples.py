"""An example request body for every operation of the OpenAPI schema that takes one.

Each example is a realistic body that the operation accepts (``tests/platform/test_openapi_examples.py``
validates every one against its request schema), keyed by ``"METHOD /path"`` as the schema
names the operation. The :func:`add_request_examples` postprocessing hook puts it on the
operation's ``application/json`` body (and the upload's JSON Lines one); an operation that
gives its own request example (``OpenApiExample(request_only=True)``) keeps it. schemathesis
sends each example as one more explicit test case.
"""

from __future__ import annotations

import json
from typing import Any

_PROJECT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_TX_HASH = "0x" + "4e3a3754410177e6937ef1f84bba68ea139e8d1a2258c5f85db9f1cd715a1bdd"
_SIGNATURE = "0x" + "a1" * 64 + "1b"

LABEL_SCHEMA = {
    "kind": "pairwise",
    "choices": ["A", "B", "tie", "both_bad"],
    "strength": {"levels": ["slightly better", "clearly better", "much better"]},
    "criteria": [{"key": "accuracy", "label": "Clinical accuracy", "min": 1, "max": 7}],
    "rationale": {"mode": "optional", "min_length": 20},
}

BATCH_RECORDS = [
    {
        "external_id": "cardio-0001",
        "prompt": "A 58-year-old with new atrial fibrillation and CHA2DS2-VASc 3: anticoagulate?",
        "responses": [
            {
                "id": "r1",
                "text": "Yes: start a DOAC (apixaban 5 mg twice daily) ...",
                "model": "model-a",
            },
            {"id": "r2", "text": "Aspirin alone is enough at this score ...", "model": "model-b"},
        ],
        "metadata": {"source": "triage-set-3"},
    },
    {
        "external_id": "cardio-0002",
        "prompt": [
            {"role": "system", "content": "You are a careful clinical assistant."},
            {"role": "user", "content": "Which beta-blocker after a myocardial infarction?"},
        ],
        "responses": [
            {"id": "r1", "text": "Metoprolol succinate or bisoprolol, titrated ...", "model": "model-a"},
            {"id": "r2", "text": "Any beta-blocker works equally well ...", "model": "model-b"},
        ],
    },
    {
        "external_id": "cardio-gold-0001",
        "prompt": "Is a QTc of 520 ms a reason to stop sotalol?",
        "responses": [
            {"id": "r1", "text": "Yes: a QTc above 500 ms calls for stopping or reducing it."},
            {"id": "r2", "text": "No: only above 600 ms."},
        ],
        "gold": {"choice": "A", "strength_min": 2, "explanation": "QTc > 500 ms is the usual threshold."},
    },
]

_REWARD_POLICY = {
    "base_rate": "2000000000000000000",
    "level_multipliers_bp": {"1": 10000, "2": 12500, "3": 15000, "4": 20000},
    "agreement_full_bp": 10000,
    "agreement_partial_bp": 5000,
    "agreement_none_bp": 0,
    "min_reward": "100000000000000000",
    "kind": "agreement",
}
_EXAM = {
    "name": "Cardiology qualification",
    "instructions": "Ten questions from the project's gold items; 80% to pass.",
    "pass_mark": 0.8,
    "retry_delay_seconds": 86400,
    "max_questions": 10,
    "gold_item_ids": ["cardio-gold-0001"],
}
_PAIRWISE_LABEL = {
    "choice": "A",
    "strength": 2,
    "criteria": {"A": {"accuracy": 6}, "B": {"accuracy": 3}},
    "rationale": "B recommends aspirin alone, which the guidelines no longer support.",
}
_REASON = {"reason": "Duplicate of a credential approved last year."}

REQUEST_EXAMPLES: dict[str, Any] = {
    # Accounts and sign-in
    "POST /api/v1/auth/signup": {
        "email": "dr.okafor@example.org",
        "password": "a long passphrase of 4 words",
        "full_name": "Dr Ngozi Okafor",
    },
    "POST /api/v1/auth/login": {"email": "dr.okafor@example.org", "password": "a long passphrase of 4 words"},
    "POST /api/v1/auth/password/change": {
        "current_password": "a long passphrase of 4 words",
        "new_password": "another passphrase, longer still",
    },
    "POST /api/v1/auth/password/reset": {"email": "dr.okafor@example.org"},
    "POST /api/v1/auth/password/reset/confirm": {
        "uid": "MTI",
        "token": "c5b1k2-3a4f0e6d2b9c8a7f6e5d",
        "new_password": "another passphrase, longer still",
    },
    "POST /api/v1/domains": {
        "slug": "electrophysiology",
        "name": "Electrophysiology",
        "parent": "medicine/cardiology",
        "description": "Heart rhythm disorders and their treatment.",
    },
    "PATCH /api/v1/domains/{domain_id}": {"name": "Cardiac electrophysiology", "is_active": True},
    "POST /api/v1/labs/{lab_id}/api-keys": {"name": "ingest pipeline", "scopes": ["read", "write"]},
    "POST /api/v1/labs/{lab_id}/members": {"email": "ml-engineer@lab.example", "role": "member"},
    "PATCH /api/v1/labs/{lab_id}/members/{user_id}": {"role": "owner"},
    # Experts
    "POST /api/v1/me/credentials": {
        "domain": "medicine/cardiology",
        "kind": "licence",
        "title": "Specialist registration in cardiology",
        "issuer": "General Medical Council",
        "identifier": "GMC 7012345",
        "issued_on": "2019-08-01",
        "expires_on": "2029-07-31",
    },
    "PATCH /api/v1/me/profile": {
        "bio": "Consultant cardiologist; 12 years in heart-rhythm clinics.",
        "links": [{"kind": "orcid", "url": "https://orcid.org/0000-0002-1825-0097"}],
        "claimed_domains": ["medicine/cardiology"],
    },
    "POST /api/v1/me/wallet/message": {"address": "0x52908400098527886E0F7030069857D2E4169EE7"},
    "POST /api/v1/me/wallet/link": {
        "message": "platform.example wants you to sign in with your Ethereum account:\n"
        "0x52908400098527886E0F7030069857D2E4169EE7\n\nLink this wallet to receive rewards.\n\n"
        "URI: https://platform.example\nVersion: 1\nChain ID: 1\nNonce: 8f3kQ2xZp1\n"
        "Issued At: 2026-01-05T10:00:00Z",
        "signature": _SIGNATURE,
    },
    "POST /api/v1/queue/next": {"project": _PROJECT},
    "POST /api/v1/assignments/{assignment_id}/submit": {
        "client_id": "5d0c6f0e-6a51-4c1e-9d1b-2f8a3c4b7e90",
        **_PAIRWISE_LABEL,
        "active_seconds": 42.5,
    },
    "POST /api/v1/assignments/{assignment_id}/revise": {
        "choice": "B",
        "strength": 1,
        "rationale": "On a second reading B's dose is the one the guideline gives.",
    },
    "POST /api/v1/assignments/{assignment_id}/skip": {"reason": "Outside my specialty (paediatric case)."},
    "POST /api/v1/assignments/{assignment_id}/report": {
        "reason": "broken",
        "details": "Response B is cut off mid-sentence.",
    },
    "POST /api/v1/exam-questions/{answer_id}/answer": {
        "client_id": "0b7e9c1a-2f4d-4e8b-9a6c-3d5f7e1b2c4a",
        "choice": "A",
        "strength": 3,
    },
    "POST /api/v1/quality/suspensions/{suspension_id}/appeal": {
        "text": "Three of the gold items I missed cite the 2019 guideline, which the 2023 one replaced."
    },
    "POST /api/v1/adjudication/{item_id}/decide": {
        "choice": "A",
        "strength": 2,
        "note": "A follows the current anticoagulation guideline; B does not.",
    },
    # Labs
    "POST /api/v1/projects": {
        "name": "Cardiology triage, round 3",
        "domain": "medicine/cardiology",
        "min_level": 3,
        "guidelines": "Prefer the answer a consultant would sign off. Safety first, then accuracy.",
        "overlap": 3,
        "gold_rate": 0.05,
        "export_form": "standard",
        "label_schema": LABEL_SCHEMA,
    },
    "PATCH /api/v1/projects/{project_id}": {"status": "active", "overlap": 5},
    # The JSON body of an upload: an array of records (JSON Lines takes one record a line).
    "POST /api/v1/projects/{project_id}/batches": BATCH_RECORDS,
    "POST /api/v1/projects/{project_id}/exams": _EXAM,
    "POST /api/v1/projects/{project_id}/reward-policies": _REWARD_POLICY,
    "POST /api/v1/webhooks": {
        "url": "https://lab.example/hooks/rlhf",
        "events": ["batch.ingested", "item.finalized", "project.completed"],
    },
    "PATCH /api/v1/webhooks/{webhook_id}": {"events": ["item.finalized"], "is_active": True},
    # Staff
    "POST /api/v1/staff/credentials/{credential_id}/approve": {"level": 3},
    "POST /api/v1/staff/credentials/{credential_id}/reject": {
        "reason": "The licence number does not match the register."
    },
    "POST /api/v1/staff/credentials/{credential_id}/revoke": _REASON,
    "POST /api/v1/staff/exams": {**_EXAM, "project": _PROJECT},
    "POST /api/v1/staff/groups/{group_id}/decide": {
        "decision": "confirm",
        "note": "Same answers in the same order on 214 items within seconds.",
    },
    "POST /api/v1/staff/labels/{label_id}/clawback": {"reason": "Label from a confirmed collusion group."},
    "POST /api/v1/staff/labs/{lab_id}/budget-credits": {
        "amount": "500000000000000000000",
        "memo": "Invoice 2026-014",
        "idempotency_key": "invoice-2026-014",
    },
    "POST /api/v1/staff/budget-credits/{credit_id}/reject": {"reason": "The invoice was not paid."},
    "POST /api/v1/staff/payouts/chain/rebind": {
        "genesis_hash": "0x" + "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
    },
    "POST /api/v1/staff/payouts/outside-transfers": {
        "tx_hash": _TX_HASH,
        "reason": "Sent by hand from the treasury wallet while the payout key was rotated.",
    },
    "POST /api/v1/staff/payouts/runs/{run_id}/cancel": {"reason": "Gas above the weekly cap."},
    "POST /api/v1/staff/projects/{project_id}/reward-policies": _REWARD_POLICY,
    "POST /api/v1/staff/qualifications/{qualification_id}/revoke": {
        "reason": "Exam answers shared in a public forum."
    },
    "POST /api/v1/staff/suspensions/{suspension_id}/decide": {
        "decision": "reinstate",
        "note": "The missed gold items were wrong; they are corrected.",
    },
}

# The upload's JSON Lines body: one record a line.
NDJSON_EXAMPLES = {
    "POST /api/v1/projects/{project_id}/batches": "".join(
        json.dumps(record, ensure_ascii=False) + "\n" for record in BATCH_RECORDS
    ),
}

_EXAMPLE_NAME = "Example"


def _has_example(content: dict) -> bool:
    return "examples" in content or "example" in content


def add_request_examples(result, generator, request, public):
    """drf-spectacular postprocessing hook: the example body of every operation that takes one."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if not body:
                continue
            name = f"{method.upper()} {path}"
            content = body.get("content", {})
            for media_type, examples in (
                ("application/json", REQUEST_EXAMPLES),
                ("application/x-ndjson", NDJSON_EXAMPLES),
            ):
                if media_type in content and name in examples and not _has_example(content[media_type]):
                    content[media_type]["examples"] = {
                        _EXAMPLE_NAME: {"value": examples[name], "summary": "example"}
                    }
    return result
