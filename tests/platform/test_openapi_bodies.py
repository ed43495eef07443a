"""Every request body and every successful answer of the OpenAPI schema is typed: no free-form
object is left in it but the data that really is free-form (listed in ``FREE_FORM``), and the
answers the views build as dictionaries (``rlhf_platform/core/openapi_bodies.py``) fit their
components when the views really answer."""

from __future__ import annotations

import uuid

import pytest

from annotate.models import Item
from annotate.qualification.services import exam_create
from tests.factories import (
    BatchFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    LabMembershipFactory,
    ProjectFactory,
    StaffFactory,
)
from tests.openapi_schema import openapi_schema, schema_errors
from tests.payouts.conftest import chain, earn  # noqa: F401 (fixtures)
from tests.security.test_chain_reset import reset_node  # noqa: F401 (a fixture)

SCHEMA = openapi_schema()
COMPONENTS = SCHEMA["components"]["schemas"]

# Where an object may hold any keys: what the lab sent or the code records as it comes.
FREE_FORM = {
    "BatchItemRecord.metadata": "an item's metadata, as the lab sent it",
    "ItemOutput.metadata": "the same, as it is answered",
    "TransactionOutput.details": "a ledger entry's data: a reward's formula and inputs, by kind",
    "AuditEntry.data": "an audit event's data, by action",
    "GroupEvidence.edges[].signals{}": "each signal's evidence for a pair, by signal",
    "StaffItem.gold{}": "a gold answer's bookkeeping beyond the answer (a silver answer's source)",
}
_COMBINED = ("allOf", "oneOf", "anyOf")


def _untyped(schema: dict) -> bool:
    if {"$ref", "enum", *_COMBINED} & set(schema):
        return False
    if "type" not in schema:
        return True
    return (
        schema["type"] == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties", True) in (True, {})
    )


def _untyped_places(schema: dict, where: str, seen: set[str]) -> list[str]:
    """The places in ``schema`` (components followed once) that are free-form objects or have
    no type at all."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _untyped_places(COMPONENTS[name], name, seen)
    if _untyped(schema):
        return [where]
    found = []
    for key, child in schema.get("properties", {}).items():
        found += _untyped_places(child, f"{where}.{key}", seen)
    if isinstance(schema.get("items"), dict):
        found += _untyped_places(schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _untyped_places(schema["additionalProperties"], f"{where}{{}}", seen)
    for combined in _COMBINED:
        for child in schema.get(combined, []):
            found += _untyped_places(child, where, seen)
    return found


def _bodies():
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                yield name, "request", media_type, content
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    for media_type, content in response.get("content", {}).items():
                        yield name, status, media_type, content


def test_no_request_or_successful_answer_is_a_free_form_object():
    untyped = {}
    for name, status, media_type, content in _bodies():
        if "schema" not in content:
            continue
        where = f"{name} {status} {media_type}"
        places = [p for p in _untyped_places(content["schema"], "body", set()) if p not in FREE_FORM]
        if places:
            untyped[where] = places
    assert not untyped, untyped


def test_the_free_form_places_exist():
    """A free-form place that is typed or gone leaves the list."""
    found = set()
    for _name, _status, _media_type, content in _bodies():
        if "schema" in content:
            found |= set(_untyped_places(content["schema"], "body", set()))
    assert set(FREE_FORM) <= found, set(FREE_FORM) - found


def test_every_json_answer_with_a_body_documents_it():
    """Only 204 (and a 2xx that is not JSON) goes without a documented body."""
    bare = [
        f"{method.upper()} {path} {status}"
        for path, operations in SCHEMA["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("2") and status != "204" and not response.get("content")
    ]
    assert not bare, bare


# --- The answers the views build fit their components -----------------------------------------


def _fits(response, method: str, path: str) -> dict:
    assert response.status_code < 300, response.content
    content = SCHEMA["paths"][path][method]["responses"][str(response.status_code)]["content"]
    body = response.json()
    assert schema_errors(body, content["application/json"]["schema"]) == [], (path, body)
    return body


@pytest.fixture
def project(lab):
    return ProjectFactory(lab=lab)


@pytest.fixture
def labelled(project):
    """Two experts on three items, one of them disagreed on and waiting for adjudication, and a
    gold item."""
    e1, e2 = ExpertProfileFactory(), ExpertProfileFactory()
    batch = BatchFactory(project=project)
    items = []
    for c1, c2, confidence in (("A", "A", 0.95), ("B", "B", 0.9), ("A", "B", 0.5)):
        item = ItemFactory(batch=batch, project=project)
        LabelFactory(item=item, expert=e1, choice=c1, strength=1)
        LabelFactory(item=item, expert=e2, choice=c2, strength=1)
        ItemConsensusFactory(
            item=item, choice=c1, confidence=confidence, agreement=1.0 if c1 == c2 else 0.5, label_count=2
        )
        items.append(item)
    Item.objects.filter(pk=items[-1].pk).update(state=Item.State.ADJUDICATION)
    gold = ItemFactory(
        project=project, batch=batch, is_gold=True, gold={"choice": "B", "explanation": "Why."}
    )
    LabelFactory(item=gold, expert=e1, choice="A")
    return {"items": items, "experts": (e1, e2), "gold": gold}


@pytest.mark.django_db
def test_the_quality_answers_fit_their_components(lab_client, staff_client, project, labelled):
    path = "/api/v1/projects/{project_id}/quality"
    report = _fits(lab_client.get(f"/api/v1/projects/{project.pk}/quality", {"n_boot": 50}), "get", path)
    assert report["agreement"] and report["low_agreement_items"]["results"]
    url = f"/api/v1/staff/projects/{project.pk}/quality"
    _fits(staff_client.get(url, {"n_boot": 0}), "get", "/api/v1/staff/projects/{project_id}/quality")
    url = f"/api/v1/staff/projects/{project.pk}/annotators"
    rows = _fits(staff_client.get(url), "get", "/api/v1/staff/projects/{project_id}/annotators")
    assert len(rows["results"]) == 2
    for item in (labelled["items"][0], labelled["gold"]):
        _fits(staff_client.get(f"/api/v1/staff/items/{item.uid}"), "get", "/api/v1/staff/items/{item_id}")


@pytest.mark.django_db
def test_adjudication_answers_fit_their_components(project, labelled):
    client = _logged_in(StaffFactory())
    listed = _fits(client.get("/api/v1/staff/adjudication"), "get", "/api/v1/staff/adjudication")
    assert listed["results"]
    item = labelled["items"][-1]
    decided = client.post(f"/api/v1/adjudication/{item.uid}/decide", {"choice": "B"}, format="json")
    assert _fits(decided, "post", "/api/v1/adjudication/{item_id}/decide")["choice"] == "B"


def _logged_in(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_experts_answers_fit_their_components(project, labelled):
    client = _logged_in(labelled["experts"][0].user)
    labels = _fits(client.get("/api/v1/me/labels"), "get", "/api/v1/me/labels")
    assert labels["results"]
    _fits(client.get("/api/v1/queue/gold-review"), "get", "/api/v1/queue/gold-review")
    _fits(client.get("/api/v1/me"), "get", "/api/v1/me")


@pytest.mark.django_db
def test_a_lab_members_user_answer_lists_the_lab(lab):
    member = LabMembershipFactory(lab=lab).user
    me = _fits(_logged_in(member).get("/api/v1/me"), "get", "/api/v1/me")
    assert [entry["id"] for entry in me["labs"]] == [str(lab.pk)]


@pytest.mark.django_db
def test_an_exam_question_fits_its_component():
    project = ProjectFactory(requires_qualification=True, gold_rate=0.0)
    for gold in ({"choice": "A"}, {"choice": "B"}):
        ItemFactory(project=project, batch__project=project, is_gold=True, gold=gold)
    exam = exam_create(project=project, name="Basics", pass_mark=0.5, retry_delay_seconds=60)
    expert = ExpertProfileFactory()
    from tests.factories import CredentialFactory

    CredentialFactory(expert=expert, domain=project.domain, approved=True)
    client = _logged_in(expert.user)
    exams = _fits(client.get("/api/v1/exams"), "get", "/api/v1/exams")
    assert [row["id"] for row in exams["results"]] == [str(exam.pk)]
    attempt = client.post(f"/api/v1/exams/{exam.pk}/attempts").json()
    path = "/api/v1/exam-attempts/{attempt_id}/question"
    question = _fits(client.get(f"/api/v1/exam-attempts/{attempt['id']}/question"), "get", path)
    assert uuid.UUID(question["id"]) and question["position"] == 1


# --- Export rows ---------------------------------------------------------------------------------

TRAINING = [
    (export_format, form, include)
    for export_format in ("dpo", "reward", "ranking")
    for form in ("standard", "conversational")
    for include in (False, True)
]


def _export_rows(client, project, **params) -> list[dict]:
    import json
    from urllib.parse import urlencode

    response = client.get(f"/api/v1/projects/{project.pk}/export?{urlencode(params)}")
    assert response.status_code == 200, response
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


@pytest.mark.django_db
@pytest.mark.parametrize("export_format", ["raw", "consensus"])
def test_record_export_rows_fit_their_component(lab_client, project, labelled, export_format):
    from annotate.openapi import EXPORT_ROW_COMPONENTS

    ItemFactory(project=project, batch=labelled["items"][0].batch)  # no consensus: null columns
    rows = _export_rows(lab_client, project, format=export_format, include_gold="true")
    ref = {"$ref": "#/components/schemas/" + EXPORT_ROW_COMPONENTS[export_format]}
    assert len(rows) >= 4
    for row in rows:
        assert schema_errors(row, ref) == [], row
    assert schema_errors({**rows[0], "colour": "red"}, ref)  # a column the component does not name


@pytest.mark.django_db
@pytest.mark.parametrize(("export_format", "form", "include"), TRAINING)
def test_training_export_rows_fit_their_component(
    lab_client, project, labelled, export_format, form, include
):
    from annotate.openapi import EXPORT_ROW_COMPONENTS

    Item.objects.filter(project=project, is_gold=False).update(state=Item.State.FINAL)
    params = {"format": export_format, "form": form, **({"include": "metadata"} if include else {})}
    rows = _export_rows(lab_client, project, **params)
    ref = {"$ref": "#/components/schemas/" + EXPORT_ROW_COMPONENTS[export_format]}
    assert rows
    for row in rows:
        assert schema_errors(row, ref) == [], row
        assert ("external_id" in row) is include
    text = rows[0].get("prompt", rows[0].get("chosen"))
    assert isinstance(text, str if form == "standard" else list)


def test_the_schema_is_openapi_31_throughout():
    """OpenAPI 3.1 (for its top-level ``webhooks``): no schema says ``nullable`` as 3.0 did."""
    import json

    assert SCHEMA["openapi"].startswith("3.1")
    assert '"nullable"' not in json.dumps(SCHEMA)
    gold = COMPONENTS["BatchItemRecord"]["properties"]["gold"]
    assert gold["oneOf"] == [{"$ref": "#/components/schemas/BatchGoldAnswer"}, {"type": "null"}]
    assert COMPONENTS["ApiError"]["properties"]["field"]["type"] == ["string", "null"]


# --- More answers: uploads, credentials, groups, suspensions, policies ---------------------------


@pytest.mark.django_db
def test_an_uploads_answers_fit_their_components(lab_client, project):
    from tests.factories import item_payload, ndjson_body

    url = f"/api/v1/projects/{project.pk}/batches"
    path = "/api/v1/projects/{project_id}/batches"
    bad = ndjson_body([item_payload("u-1"), {"external_id": "u-2"}])
    dry = lab_client.post(url + "?dry_run=1", data=bad, content_type="application/x-ndjson")
    assert _fits(dry, "post", path)["errors"][0]["line"] == 2
    created = lab_client.post(
        url, data=ndjson_body([item_payload("u-1")]), content_type="application/x-ndjson"
    )
    batch = _fits(created, "post", path)
    detail = _fits(lab_client.get(f"/api/v1/batches/{batch['id']}"), "get", "/api/v1/batches/{batch_id}")
    assert detail["progress"]["items"]["total"] == 1


@pytest.mark.django_db
def test_credential_answers_fit_their_components(expert_client, staff_client, domain, pdf_upload):
    body = {
        "domain": domain.path,
        "kind": "degree",
        "title": "MD",
        "issuer": "Somewhere",
        "issued_on": "2015-06-01",
    }
    created = expert_client.post(
        "/api/v1/me/credentials", {**body, "evidence": pdf_upload}, format="multipart"
    )
    assert _fits(created, "post", "/api/v1/me/credentials")["evidence"]["content_type"] == "application/pdf"
    listed = _fits(staff_client.get("/api/v1/staff/credentials"), "get", "/api/v1/staff/credentials")
    assert listed["results"][0]["expert"]["pseudonym"]


@pytest.mark.django_db
def test_group_and_suspension_answers_fit_their_components():
    from tests.quality.test_group_pages import _group

    group, experts = _group()
    client = _logged_in(StaffFactory())
    listed = _fits(client.get("/api/v1/staff/groups"), "get", "/api/v1/staff/groups")
    assert listed["results"][0]["evidence"]["edges"]
    url = f"/api/v1/staff/groups/{group.pk}/decide"
    decided = client.post(url, {"decision": "confirm", "note": "One device, one person."}, format="json")
    _fits(decided, "post", "/api/v1/staff/groups/{group_id}/decide")
    suspensions = _fits(client.get("/api/v1/staff/suspensions"), "get", "/api/v1/staff/suspensions")
    assert suspensions["results"][0]["details"]["group"] == str(group.pk)
    mine = _logged_in(experts[0].user).get("/api/v1/quality/suspensions")
    assert _fits(mine, "get", "/api/v1/quality/suspensions")["results"]


@pytest.mark.django_db
def test_a_reward_policys_expected_cost_fits_its_component(lab_client, project):
    url = f"/api/v1/projects/{project.pk}/reward-policies"
    body = {"base_rate": "1000", "level_multipliers_bp": {str(level): 10000 for level in range(1, 5)}}
    path = "/api/v1/projects/{project_id}/reward-policies"
    created = _fits(lab_client.post(url, body, format="json"), "post", path)
    assert created["expected_cost_per_label"]["basis"]
    _fits(lab_client.get(url), "get", path)


@pytest.mark.django_db
def test_the_chains_status_fits_its_component():
    admin = _logged_in(StaffFactory(staff_role="admin"))
    status = _fits(admin.get("/api/v1/staff/payouts/chain"), "get", "/api/v1/staff/payouts/chain")
    assert status["state"] == "not_recorded" and status["observed"]["chain_id"]


# --- Staff answers built as dictionaries: the re-bind, an appeal's decision, a fitted model -----


def _undocumented(value, schema: dict, where: str = "body") -> list[str]:
    """The keys of ``value`` that its (OpenAPI) schema does not name, at any depth: the
    components leave additional properties open, so fitting them does not show a key the
    answer has and the component lacks."""
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    alternatives = [s for s in schema.get("oneOf", schema.get("anyOf", [])) if s.get("type") != "null"]
    if len(alternatives) == 1:
        return _undocumented(value, alternatives[0], where)
    found = []
    if isinstance(value, dict) and schema.get("properties"):
        for key, child in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += _undocumented(child, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, child in value.items():
            found += _undocumented(child, schema["additionalProperties"], f"{where}{{{key}}}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, child in enumerate(value):
            found += _undocumented(child, schema["items"], f"{where}[{index}]")
    return found


def _fits_exactly(response, method: str, path: str) -> dict:
    body = _fits(response, method, path)
    schema = SCHEMA["paths"][path][method]["responses"][str(response.status_code)]["content"]
    assert _undocumented(body, schema["application/json"]["schema"]) == [], (path, body)
    return body


@pytest.mark.django_db
def test_the_chain_rebind_report_fits_its_component(chain, earn, reset_node):  # noqa: F811
    from rewards.payouts.chain_identity import chain_identity_verify
    from rewards.payouts.services import payout_run_create, payout_run_execute
    from tests.factories import WalletFactory
    from tests.payouts.conftest import TOKEN, key_of

    chain_identity_verify(chain=chain)
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(100).address)
    earn(expert, 2 * TOKEN)
    assert payout_run_execute(run_id=payout_run_create(trigger="staff").pk).status == "completed"
    reset_node()
    admin = _logged_in(StaffFactory(staff_role="admin"))
    path = "/api/v1/staff/payouts/chain/rebind"

    dry = _fits_exactly(admin.post(path, {}, format="json"), "post", path)
    assert dry["applied"] is False and len(dry["lost_transactions"]) == 1
    assert dry["recorded"]["recorded_at"] and dry["differences"]
    confirmed = admin.post(path, {"genesis_hash": chain.genesis_hash()}, format="json")
    applied = _fits_exactly(confirmed, "post", path)
    assert applied["applied"] is True and applied["recredited"] == str(2 * TOKEN)
    report = {"$ref": "#/components/schemas/ChainRebindReport"}
    odd = {**applied, "colour": 1, "recorded": {**applied["recorded"], "shade": 2}}
    assert _undocumented(odd, report) == ["body.recorded.shade", "body.colour"]


@pytest.mark.django_db
@pytest.mark.parametrize("decision", ["reinstate", "uphold"])
def test_an_appeals_decision_fits_its_component(decision):
    from tests.quality.test_suspension import _suspended

    project = ProjectFactory(gold_threshold=0.7, gold_min_seen=5, gold_rate=0)
    expert, suspension, _excluded = _suspended(project)
    appealed = _logged_in(expert.user).post(
        f"/api/v1/quality/suspensions/{suspension.pk}/appeal",
        {"text": "The gold items on dosage were ambiguous."},
        format="json",
    )
    path = "/api/v1/quality/suspensions/{suspension_id}/appeal"
    assert _fits_exactly(appealed, "post", path)["appeal"] == "pending"
    url = f"/api/v1/staff/suspensions/{suspension.pk}/decide"
    decided = _logged_in(StaffFactory()).post(url, {"decision": decision, "note": "Looked."}, format="json")
    body = _fits_exactly(decided, "post", "/api/v1/staff/suspensions/{suspension_id}/decide")
    assert body["appeal"] == {"reinstate": "reinstated", "uphold": "upheld"}[decision]
    assert body["details"]["test"] == "cusum" and body["decided_at"]


@pytest.mark.django_db
def test_a_quality_report_with_a_fitted_consensus_model_fits_its_component(lab, lab_client, staff_client):
    from annotate.quality.services import project_model_fit
    from tests.quality.test_model_fit import _contrarian_project

    project, _honest, _contrarians = _contrarian_project()
    project.lab = lab
    project.save(update_fields=["lab"])
    assert project_model_fit(project_id=project.pk) is not None
    for client, path in (
        (staff_client, "/api/v1/staff/projects/{project_id}/quality"),
        (lab_client, "/api/v1/projects/{project_id}/quality"),
    ):
        report = _fits_exactly(client.get(path.format(project_id=project.pk), {"n_boot": 0}), "get", path)
        assert report["consensus_model"]["held_out"]["folds"] == 5
        assert set(report["consensus_model"]["held_out"]["log_likelihood"]) == {"dawid_skene", "majority"}
