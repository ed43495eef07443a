"""The lab console in Chromium: a lab owner creates a project with the schema editor (its
preview follows the edits), uploads a file and watches its progress, downloads the DPO export
and reads the quality page; the console's pages do not scroll sideways at 390 px."""

from __future__ import annotations

import json

import pytest

from annotate.models import Item, Project
from rlhf_platform.accounts.models import LabMembership
from tests.browser.conftest import logged_in
from tests.factories import (
    PASSWORD,
    DomainFactory,
    ItemConsensusFactory,
    LabMembershipFactory,
    UserFactory,
    item_payload,
    ndjson_body,
)

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")

NARROW = """() => ({scroll: document.documentElement.scrollWidth, width: window.innerWidth})"""


def test_a_lab_owner_creates_a_project_uploads_watches_downloads_and_reads_quality(
    live_server, browser, tmp_path
):
    owner = UserFactory(email="owner@acme-lab.example.org")
    LabMembershipFactory(user=owner, role=LabMembership.Role.OWNER, lab__slug="acme", lab__name="Acme")
    DomainFactory(slug="cardiology", name="Cardiology")
    context, page = logged_in(browser, live_server, owner.email, PASSWORD)

    # The lab's menu, not the expert's; the console is home.
    assert page.url == f"{live_server.url}/labs/acme/"
    main_menu = page.get_by_role("navigation", name="Main")
    assert main_menu.get_by_role("link", name="Webhooks").is_visible()
    assert main_menu.get_by_role("link", name="Earnings").count() == 0

    # A new project: the preview follows the schema as it is typed, errors name the field.
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill("Triage answers")
    page.get_by_label("Domain").select_option("cardiology")
    page.get_by_label("Status").select_option("active")
    schema = page.get_by_role("textbox", name="Label schema")
    preview = page.locator("#schema-preview")
    assert preview.locator("#preview-choices").inner_text().count("Tie") == 1
    schema.fill('{"kind": "pairwise", "choices": ["A", "B", "sideways"]}')
    preview.locator("#preview-errors").wait_for()
    assert "label_schema.choices" in preview.inner_text()
    schema.fill(
        json.dumps({"kind": "pairwise", "choices": ["A", "B", "both_bad"], "rationale": {"mode": "off"}})
    )
    preview.locator("#preview-choices").wait_for()
    assert "Both are bad" in preview.inner_text() and "Tie" not in preview.inner_text()
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/projects/*/")
    project = Project.objects.get(name="Triage answers")
    assert project.label_schema["choices"] == ["A", "B", "both_bad"]

    # Upload a file; the batch's page shows the bytes and items as the ingest goes.
    items = tmp_path / "items.jsonl"
    items.write_bytes(ndjson_body([item_payload(f"q{i}", prompt=f"Question {i}?") for i in range(25)]))
    page.get_by_role("link", name="Upload items").click()
    page.get_by_label("Items file").set_input_files(str(items))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/batches/*/")
    page.locator("#batch-progress[data-finished='1']").wait_for()
    assert page.locator("#batch-state").inner_text() == "ingested"
    assert "25 items created" in page.locator("#batch-items").inner_text()
    assert page.locator("#batch-bytes").get_attribute("value") == "100"

    # A file with bad lines: refused whole, each line's error in the page.
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(ndjson_body([item_payload("q100"), item_payload("q101", responses=1), b"{oops"]))
    page.get_by_role("link", name="Upload another file").click()
    page.get_by_label("Items file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    page.locator("#line-errors").wait_for()
    assert page.locator("#batch-state").inner_text() == "failed"
    assert page.locator("#line-errors tbody th").all_inner_texts() == ["2", "3"]
    assert Item.objects.filter(project=project).count() == 25

    # Experts label; some items are final.
    final = list(Item.objects.filter(project=project).order_by("id")[:3])
    for item in final:
        item.state = Item.State.FINAL
        item.save(update_fields=["state"])
        ItemConsensusFactory(item=item, choice="B")

    # The DPO export, as a download.
    page.get_by_role("link", name=project.name).first.click()
    assert "3 of 25" in page.locator("#progress").inner_text()
    dpo = page.locator("#exports tr", has_text="dpo").get_by_role("link", name="JSON Lines")
    with page.expect_download() as download:
        dpo.click()
    rows = [json.loads(line) for line in open(download.value.path(), encoding="utf-8")]
    assert len(rows) == 3 and all(set(row) == {"prompt", "chosen", "rejected"} for row in rows)
    assert rows[0] == {
        "prompt": final[0].prompt,
        "chosen": final[0].responses[1]["text"],
        "rejected": final[0].responses[0]["text"],
    }

    # The quality page.
    page.get_by_role("link", name="Quality report").click()
    assert page.get_by_role("heading", name="Quality of “Triage answers”").is_visible()
    assert "3 items have a consensus" in page.locator("#consensus-states").inner_text()

    # At a phone's width nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    batch = project.batches.get(status="ingested")
    base = f"/labs/acme/projects/{project.pk}/"
    for path in (
        "/labs/acme/",
        "/labs/acme/projects/new/",
        base,
        base + "edit/",
        base + "upload/",
        base + "quality/",
        f"{base}batches/{batch.pk}/",
        "/labs/acme/members/",
        "/labs/acme/webhooks/",
    ):
        page.goto(live_server.url + path)
        measured = page.evaluate(NARROW)
        assert measured["scroll"] <= measured["width"], (path, measured)
    assert page.errors == []
    context.close()
