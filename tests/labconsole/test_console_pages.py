"""The lab console: the lab's menu, the projects with their progress, the schema editor and its
preview, uploads through the ingest service with line errors, downloads, the quality page, and
webhook resends."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotate.models import Batch, Item, Project
from annotate.progress import project_progress
from rewards.models import RewardPolicy
from rlhf_platform.accounts.models import LabMembership
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.labconsole.selectors import projects_progress
from rlhf_platform.labconsole.views import progress_summary
from rlhf_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import (
    BatchFactory,
    DomainFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabMembershipFactory,
    ProjectFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
    item_payload,
    ndjson_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return LabMembershipFactory(role=LabMembership.Role.OWNER, lab__slug="acme", lab__name="Acme")


@pytest.fixture
def lab(owner):
    return owner.lab


@pytest.fixture
def client(owner) -> Client:
    client = Client()
    client.force_login(owner.user)
    return client


@pytest.fixture
def domain():
    return DomainFactory(slug="cardiology", name="Cardiology")


def _form(**changes) -> dict:
    data = {
        "name": "Triage",
        "domain": "cardiology",
        "status": "active",
        "min_level": 1,
        "overlap": 3,
        "max_overlap": "",
        "gold_rate": 0.1,
        "export_form": "standard",
        "guidelines": "Prefer the **safer** answer.",
        "label_schema": json.dumps({"kind": "pairwise", "choices": ["A", "B", "tie"]}),
    }
    data.update(changes)
    return data


# --- the menu and the home page -----------------------------------------------------------------


def test_a_lab_owner_without_an_expert_profile_gets_the_lab_menu_and_the_console(client, lab):
    ProjectFactory(lab=lab, name="Triage")
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/labs/acme/"
    html = response.content.decode()
    menu = re.search(r'<nav class="menu" aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    assert "/labs/acme/webhooks/" in menu and "/labs/acme/members/" in menu
    assert "/earnings/" not in menu and "/label/" not in menu  # not the expert's menu
    assert "Triage" in html and "0 of 0" in html


def test_an_expert_who_is_also_a_lab_member_keeps_the_experts_menu_and_gets_a_lab_row(lab):
    expert = ExpertProfileFactory()
    LabMembershipFactory(lab=lab, user=expert.user, role=LabMembership.Role.MEMBER)
    client = Client()
    client.force_login(expert.user)
    html = client.get("/profile/").content.decode()
    assert 'aria-label="Lab"' in html and "/labs/acme/" in html
    main = re.search(r'<nav class="menu" aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    assert "/earnings/" in main


def test_the_project_list_shows_progress(client, lab):
    project = ProjectFactory(lab=lab, name="Triage")
    batch = BatchFactory(project=project)
    ItemFactory(batch=batch, state=Item.State.FINAL)
    ItemFactory(batch=batch)
    html = client.get("/labs/acme/").content.decode()
    assert 'value="50"' in html and "1 of 2" in html


def test_the_home_pages_progress_is_project_progress_in_a_constant_number_of_queries(
    client, lab, django_assert_max_num_queries
):
    projects = [ProjectFactory(lab=lab) for _ in range(3)]
    for index, project in enumerate(projects):
        batch = BatchFactory(project=project)
        for state in [Item.State.FINAL] * index + [Item.State.OPEN, Item.State.ADJUDICATION]:
            ItemFactory(batch=batch, state=state)
        ItemFactory(batch=batch, is_gold=True, gold={"choice": "A"})
    found = projects_progress(projects=projects)
    for project in projects:
        expected = progress_summary(project_progress(project=project))
        assert found[project.pk] == {key: expected[key] for key in found[project.pk]}, project
    client.get("/labs/acme/")  # sessions and menus warmed
    with django_assert_max_num_queries(12):
        assert client.get("/labs/acme/").status_code == 200


def test_the_project_page_charts_its_items_by_state(client, lab):
    project = ProjectFactory(lab=lab, name="Triage")
    batch = BatchFactory(project=project)
    for state in (Item.State.FINAL, Item.State.OPEN, Item.State.OPEN):
        ItemFactory(batch=batch, state=state)
    html = client.get(f"/labs/acme/projects/{project.pk}/").content.decode()
    chart = re.search(r'<figure class="chart" id="chart-states".*?</figure>', html, re.S).group(0)
    assert "<svg" in chart
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th><td>(\d+)</td></tr>', chart))
    assert (rows["open"], rows["final"], rows["adjudication"]) == ("2", "1", "0")


# --- projects and the schema editor -----------------------------------------------------------


def test_a_project_is_created_through_the_service_and_audited_with_the_person(client, owner, domain):
    response = client.post("/labs/acme/projects/new/", _form())
    project = Project.objects.get(name="Triage")
    assert response.status_code == 302 and response["Location"] == f"/labs/acme/projects/{project.pk}/"
    assert project.lab == owner.lab and project.label_schema["choices"] == ["A", "B", "tie"]
    event = AuditEvent.objects.get(action="project.create")
    assert event.actor_id == owner.user_id


def test_a_bad_schema_is_refused_in_the_page_naming_its_field(client, domain):
    schema = json.dumps({"kind": "pairwise", "choices": ["A"], "colour": "red"})
    response = client.post("/labs/acme/projects/new/", _form(label_schema=schema))
    assert response.status_code == 400
    html = response.content.decode()
    assert "label_schema.choices" in html and "label_schema.colour" in html
    assert not Project.objects.exists()
    broken = client.post("/labs/acme/projects/new/", _form(label_schema="{not json"))
    assert broken.status_code == 400 and "Not valid JSON" in broken.content.decode()


def test_a_refusal_of_the_service_lands_on_its_field(client, lab, domain):
    project = ProjectFactory(lab=lab, domain=domain, overlap=3)
    ItemFactory(batch=BatchFactory(project=project))
    response = client.post(
        f"/labs/acme/projects/{project.pk}/edit/",
        _form(overlap=5, label_schema=json.dumps(project.label_schema)),
    )
    assert response.status_code == 400
    assert "The overlap cannot change once items exist" in response.content.decode()
    project.refresh_from_db()
    assert project.overlap == 3


def test_the_edit_page_fills_in_the_project_and_saves(client, lab, domain):
    project = ProjectFactory(lab=lab, domain=domain, name="Old")
    page = client.get(f"/labs/acme/projects/{project.pk}/edit/").content.decode()
    assert 'value="Old"' in page and "&quot;kind&quot;: &quot;pairwise&quot;" in page
    response = client.post(
        f"/labs/acme/projects/{project.pk}/edit/",
        _form(name="New", label_schema=json.dumps(project.label_schema)),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "New"


def test_the_preview_shows_what_experts_will_see_or_the_schemas_errors(client, lab):
    schema = {
        "kind": "pairwise",
        "choices": ["A", "B", "both_bad"],
        "strength": {"levels": ["a bit", "a lot"]},
        "criteria": [{"key": "safety", "label": "Safety", "min": 1, "max": 5}],
        "rationale": {"mode": "required", "min_length": 20},
    }
    html = client.post("/labs/acme/schema-preview/", {"label_schema": json.dumps(schema)}).content.decode()
    assert "Both are bad" in html and "Tie" not in html
    assert "a lot" in html and "Safety" in html and "at least 20 characters" in html
    assert html.count("<h3>Response ") == 2
    ranking = {"kind": "ranking", "ranking": {"ties_allowed": False}}
    html = client.post("/labs/acme/schema-preview/", {"label_schema": json.dumps(ranking)}).content.decode()
    assert html.count("<h3>Response ") == 3 and "no ties" in html
    bad = client.post("/labs/acme/schema-preview/", {"label_schema": '{"kind": "stars"}'}).content.decode()
    assert "label_schema.kind" in bad


def test_the_preview_uses_the_projects_first_item_rendered_as_for_experts(client, lab):
    project = ProjectFactory(lab=lab)
    ItemFactory(batch=BatchFactory(project=project), prompt="Is **this** normal?")
    html = client.post(
        "/labs/acme/schema-preview/",
        {"label_schema": json.dumps(project.label_schema), "project": str(project.pk)},
    ).content.decode()
    assert "<strong>this</strong>" in html and "first item" in html


# --- uploads ----------------------------------------------------------------------------------


def test_a_file_upload_goes_through_the_ingest_and_shows_its_batch(client, owner, lab):
    project = ProjectFactory(lab=lab)
    body = ndjson_body([item_payload(f"q{i}") for i in range(3)])
    response = client.post(
        f"/labs/acme/projects/{project.pk}/upload/",
        {
            "file": SimpleUploadedFile("items.jsonl", body),
            "on_duplicate": "error",
            "priority": 0,
            "idempotency_key": "k1",
        },
    )
    batch = Batch.objects.get(project=project)
    assert response.status_code == 302 and str(batch.pk) in response["Location"]
    assert batch.status == Batch.Status.INGESTED and batch.items_created == 3
    assert AuditEvent.objects.get(action="batch.receive").actor_id == owner.user_id
    html = client.get(response["Location"]).content.decode()
    assert "3 items created" in html and 'data-finished="1"' in html


def test_a_file_with_bad_lines_shows_each_line_and_writes_nothing(client, lab):
    project = ProjectFactory(lab=lab)
    body = ndjson_body([item_payload("q1"), item_payload("q2", responses=1), b"{oops"])
    response = client.post(
        f"/labs/acme/projects/{project.pk}/upload/",
        {"file": SimpleUploadedFile("items.jsonl", body), "on_duplicate": "error", "priority": 0},
        follow=True,
    )
    html = response.content.decode()
    assert "2 line errors" in html
    rows = re.findall(r'<tr><th scope="row">(\d+)</th><td><code>([^<]*)</code>', html)
    assert [line for line, _field in rows] == ["2", "3"] and rows[0][1] == "responses"
    assert not Item.objects.filter(project=project).exists()


def test_the_scripts_upload_sends_the_file_as_the_body_and_gets_the_batch_page(client, lab):
    project = ProjectFactory(lab=lab)
    url = f"/labs/acme/projects/{project.pk}/upload/?on_duplicate=skip&priority=5"
    headers = {"HTTP_X_CONSOLE_UPLOAD": "1", "HTTP_IDEMPOTENCY_KEY": "same"}
    body = ndjson_body([item_payload("q1"), item_payload("q2")])
    first = client.post(url, body, content_type="application/x-ndjson", **headers).json()
    again = client.post(url, body, content_type="application/x-ndjson", **headers).json()
    assert first["batch"] == again["batch"] and first["location"].endswith(f"/batches/{first['batch']}/")
    batch = Batch.objects.get(pk=first["batch"])
    assert (batch.priority, batch.on_duplicate, batch.items_created) == (5, "skip", 2)
    refused = client.post(url, body, content_type="text/csv", HTTP_X_CONSOLE_UPLOAD="1")
    assert refused.status_code == 415 and "application/x-ndjson" in refused.json()["errors"][0]["message"]
    bad = client.post(
        url.replace("priority=5", "priority=5000"),
        body,
        content_type="application/x-ndjson",
        HTTP_X_CONSOLE_UPLOAD="1",
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "priority"


def test_a_large_file_goes_to_a_worker_and_its_page_follows_it_to_the_end(
    client, lab, settings, django_capture_on_commit_callbacks
):
    settings.BATCH_INLINE_MAX_BYTES = 10  # every body is "large"
    project = ProjectFactory(lab=lab)
    body = ndjson_body([item_payload(f"q{i}") for i in range(4)])
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(
            f"/labs/acme/projects/{project.pk}/upload/",
            body,
            content_type="application/x-ndjson",
            HTTP_X_CONSOLE_UPLOAD="1",
        ).json()
    assert answer["status"] == "queued" and len(queued) == 1
    status_url = answer["location"] + "status/"
    waiting = client.get(status_url).content.decode()
    assert 'data-finished="0"' in waiting and "0 of 4" in waiting and "0 items created" in waiting
    queued[0]()  # the worker's task (eager here)
    done = client.get(status_url).content.decode()
    assert 'data-finished="1"' in done and "4 of 4" in done and "4 items created" in done


def test_the_status_fragment_reports_bytes_and_items(client, lab):
    project = ProjectFactory(lab=lab)
    batch = BatchFactory(
        project=project,
        status=Batch.Status.INGESTED,
        size_bytes=2048,
        lines_total=4,
        lines_processed=4,
        items_created=4,
    )
    html = client.get(f"/labs/acme/projects/{project.pk}/batches/{batch.pk}/status/").content.decode()
    assert "2.0\xa0KB of 2.0\xa0KB" in html and "4 of 4" in html and "4 items created" in html


# --- the project page, downloads, quality -----------------------------------------------------


def test_the_project_page_links_every_export_format_with_its_parameters(client, lab):
    project = ProjectFactory(lab=lab)
    html = client.get(f"/labs/acme/projects/{project.pk}/").content.decode()
    base = f"/labs/acme/projects/{project.pk}/export/?"
    for export_format in ("raw", "consensus", "dpo", "reward", "ranking"):
        for file_format in ("jsonl", "parquet"):
            assert f"{base}format={export_format}&amp;file_format={file_format}" in html
    assert f"{base}format=dpo&amp;form=conversational" in html
    assert f"{base}format=dpo&amp;include=metadata" in html
    assert "Expected cost per label" in html or "No reward policy yet" in html


def test_the_dpo_download_is_the_apis_export(client, lab):
    project = ProjectFactory(lab=lab, name="Triage")
    item = ItemFactory(batch=BatchFactory(project=project), state=Item.State.FINAL, prompt="Which?")
    ItemConsensusFactory(item=item, choice="B")
    ItemFactory(batch=item.batch)  # open: left out
    response = client.get(f"/labs/acme/projects/{project.pk}/export/?format=dpo")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert rows == [
        {"prompt": "Which?", "chosen": item.responses[1]["text"], "rejected": item.responses[0]["text"]}
    ]
    bad = client.get(f"/labs/acme/projects/{project.pk}/export/?format=dpo&colour=red")
    assert bad.status_code == 400 and "colour" in bad.content.decode()
    misplaced = client.get(f"/labs/acme/projects/{project.pk}/export/?format=raw&form=conversational")
    assert misplaced.status_code == 400 and "form" in misplaced.content.decode()


def test_the_quality_page_reads_the_labs_report(client, lab):
    project = ProjectFactory(lab=lab, name="Triage")
    html = client.get(f"/labs/acme/projects/{project.pk}/quality/").content.decode()
    assert "Quality of “Triage”" in html and "Krippendorff" in html and "Gold pool" in html
    assert 'id="chart-alpha"' in html and 'id="chart-confidence"' in html


# --- webhooks ---------------------------------------------------------------------------------


def test_an_owner_resends_a_failed_delivery(client, lab):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(lab=lab), status="failed", attempts=8)
    page = client.get("/labs/acme/webhooks/").content.decode()
    assert f"/labs/acme/webhooks/deliveries/{delivery.pk}/resend/" in page
    response = client.post(f"/labs/acme/webhooks/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.queued_at is not None
    assert AuditEvent.objects.filter(action="webhook.resend", target_id=str(delivery.pk)).exists()
    again = client.post(f"/labs/acme/webhooks/deliveries/{delivery.pk}/resend/", follow=True)
    assert "still pending" in again.content.decode()


# --- reward policies ---------------------------------------------------------------------------


def test_an_owner_adds_a_reward_policy_and_sees_its_expected_cost_per_label(client, lab):
    project = ProjectFactory(lab=lab, ranking=True)
    url = f"/labs/acme/projects/{project.pk}/reward-policies/"
    form = {
        "base_rate": "2",
        "kind": "agreement",
        "level_1": 10000,
        "level_2": 10000,
        "level_3": 15000,
        "level_4": 20000,
    }
    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"].endswith("#budget")
    policy = RewardPolicy.objects.get(project=project)
    assert (policy.version, policy.base_rate, policy.level_multipliers_bp["4"]) == (1, 2 * 10**18, 20000)
    html = client.get(f"/labs/acme/projects/{project.pk}/").content.decode()
    assert "Version 1 (in force)" in html
    assert re.search(r"Expected cost per label: <strong>[0-9.,]+</strong> tokens", html)
    refused = client.post(url, {**form, "kind": "information"})  # information scores pairwise only
    assert refused.status_code == 400 and "this project ranks responses" in refused.content.decode()
    assert RewardPolicy.objects.filter(project=project).count() == 1


def test_a_member_makes_the_projects_exam_from_its_gold_items(lab):
    from annotate.qualification.models import Exam

    member = LabMembershipFactory(lab=lab, role=LabMembership.Role.MEMBER).user
    client = Client()
    client.force_login(member)
    project = ProjectFactory(lab=lab, requires_qualification=True)
    url = f"/labs/acme/projects/{project.pk}/exams/"
    form = {
        "name": "Cardiology check",
        "pass_mark": 75,
        "retry_hours": 48,
        "max_questions": "",
        "instructions": "",
    }

    refused = client.post(url, form)  # no gold item yet
    assert refused.status_code == 400 and "no gold items" in refused.content.decode()
    assert not Exam.objects.exists()

    golds = [ItemFactory(project=project, batch__project=project, gold_answer=True) for _ in range(3)]
    ItemFactory(project=project, batch__project=project)  # an ordinary item is no question
    assert (
        "Make an exam from the gold items"
        in client.get(f"/labs/acme/projects/{project.pk}/").content.decode()
    )
    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"].endswith("#exams")
    exam = Exam.objects.get(project=project)
    assert (exam.name, exam.pass_mark, exam.retry_delay_seconds, exam.is_active) == (
        "Cardiology check",
        0.75,
        48 * 3600,
        True,
    )
    assert sorted(q.source_item_id for q in exam.questions.all()) == sorted(g.pk for g in golds)
    assert AuditEvent.objects.filter(action="exam.create", actor=member).exists()
    html = client.get(f"/labs/acme/projects/{project.pk}/").content.decode()
    assert "Cardiology check (active): pass mark 75%" in html

    too_many = client.post(url, {**form, "max_questions": 4})
    assert too_many.status_code == 400 and "max_questions is from 1" in too_many.content.decode()
    assert Exam.objects.count() == 1


def test_an_owner_registers_pauses_tests_and_deletes_a_webhook(client, owner, lab, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    none = client.post("/labs/acme/webhooks/", {"url": "http://127.0.0.1:9/hook"})
    assert none.status_code == 400 and "Choose at least one event" in none.content.decode()
    response = client.post(
        "/labs/acme/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["item.finalized"]}
    )
    endpoint = WebhookEndpoint.objects.get(lab=lab)
    assert response.status_code == 201 and endpoint.secret in response.content.decode()  # shown once
    assert endpoint.secret not in client.get("/labs/acme/webhooks/").content.decode()
    change = f"/labs/acme/webhooks/{endpoint.pk}/"
    client.post(change, {"op": "pause"})
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    client.post(change, {"op": "test"})
    assert WebhookDelivery.objects.get(endpoint=endpoint).event == "webhook.test"
    client.post(change, {"op": "delete"})
    assert not WebhookEndpoint.objects.exists()
    actions = set(AuditEvent.objects.filter(actor_id=owner.user_id).values_list("action", flat=True))
    assert {"webhook.create", "webhook.update", "webhook.test", "webhook.delete"} <= actions
