"""An expert signs up and submits a credential; staff approve it; the expert sees level 3.

Drives Debian's Chromium through Playwright against pytest-django's live server.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from tests.factories import PASSWORD, DomainFactory, StaffFactory

SCREENSHOT = Path("/tmp/profile.png")

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect
sync_playwright = playwright_api.sync_playwright


def test_expert_submits_credential_and_staff_approve_it_at_level_three(live_server, browser, tmp_path):
    domain = DomainFactory(slug="cardiology", name="Cardiology")
    staff = StaffFactory(email="reviewer@example.org")
    evidence = tmp_path / "licence.pdf"
    evidence.write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    issued_on = (timezone.now().date() - dt.timedelta(days=800)).isoformat()

    # --- the expert signs up and submits a credential
    expert_context = browser.new_context()
    expert_page = expert_context.new_page()
    page_errors: list[str] = []
    expert_page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    expert_page.goto(f"{live_server.url}/")
    expert_page.get_by_role("link", name="Sign up as an expert").click()
    expert_page.get_by_label("E-mail").fill("dr.who@example.org")
    expert_page.get_by_label("Full name").fill("Dr Who")
    expert_page.get_by_label("Password").fill("tardis-blue-box-1963")
    expert_page.get_by_role("button", name="Create my account").click()
    expert_page.wait_for_url(re.compile(r"/profile/$"))
    expect(expert_page.get_by_role("heading", name="Dr Who")).to_be_visible()

    expert_page.get_by_role("link", name="Submit a credential").first.click()
    expert_page.get_by_label("Domain").select_option(label=str(domain))
    expert_page.get_by_label("Kind").select_option("licence")
    expert_page.get_by_label("Title").fill("Board certification in cardiology")
    expert_page.get_by_label("Issuer").fill("Medical Board")
    expert_page.get_by_label("Issued on").fill(issued_on)
    expert_page.get_by_label("Evidence").set_input_files(str(evidence))
    expert_page.get_by_role("button", name="Submit for review").click()
    expert_page.wait_for_url(re.compile(r"/profile/$"))
    row = expert_page.locator("#credentials tbody tr").first
    expect(row).to_contain_text("Board certification in cardiology")
    expect(row.locator(".status")).to_have_text("submitted")
    expect(row.get_by_role("link", name="licence.pdf")).to_be_visible()

    # --- a reviewer approves it at level 3, in a browser of their own
    staff_context = browser.new_context()
    staff_page = staff_context.new_page()
    staff_page.goto(f"{live_server.url}/login/")
    staff_page.get_by_label("E-mail").fill(staff.email)
    staff_page.get_by_label("Password").fill(PASSWORD)
    staff_page.get_by_role("button", name="Log in").click()
    staff_page.wait_for_url(re.compile(r"/staff/credentials/$"))
    queue_row = staff_page.locator("#queue tbody tr", has_text="Board certification in cardiology")
    queue_row.get_by_role("link", name="Review").click()
    expect(staff_page.locator("dd", has_text="dr.who@example.org")).to_be_visible()
    expect(staff_page.get_by_role("link", name="licence.pdf")).to_be_visible()
    staff_page.locator("#approve").get_by_label("Level").select_option("3")
    staff_page.get_by_role("button", name="Approve").click()
    expect(staff_page.get_by_text("Approved at level 3.")).to_be_visible()
    expect(staff_page.locator("#history")).to_contain_text("credential.approve")

    # --- the expert sees it approved, and level 3 in the domain
    expert_page.reload()
    row = expert_page.locator("#credentials tbody tr").first
    expect(row.locator(".status")).to_have_text("approved")
    expect(row).to_contain_text("3 — expert")
    expect(expert_page.locator('#levels tr[data-domain="cardiology"] .level')).to_have_text("3 — expert")
    expert_page.screenshot(path=str(SCREENSHOT), full_page=True)
    # The live-update script must fail quietly where there is no websocket server.
    assert page_errors == []

    staff_context.close()
    expert_context.close()


@pytest.fixture
def asgi_server(transactional_db, monkeypatch):
    """The real ASGI application (HTTP and websockets) under uvicorn, in a thread.

    ``live_server`` speaks WSGI only; the live update needs the websocket route. Staff act
    through this server too, so the channel layer's message is sent on the server's own
    event loop, as in production.
    """
    import socket
    import threading
    import time

    import uvicorn

    from rlhf_platform.asgi import application

    # Each ASGI request runs in a thread of its own; a persistent connection left in a finished
    # thread would stay open and keep the test database from being dropped at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(application, lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    connections.close_all()


def _log_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


# WhiteNoise serves the stylesheet as a synchronous file stream; under ASGI Django says so.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_profile_shows_a_decision_live_without_a_reload(asgi_server, browser):
    from tests.factories import CredentialFactory, ExpertProfileFactory

    expert = ExpertProfileFactory(user__email="live@example.org")
    credential = CredentialFactory(expert=expert, title="MSc Physics", kind="degree")
    staff = StaffFactory(email="live-reviewer@example.org")

    expert_context = browser.new_context()
    expert_page = expert_context.new_page()
    _log_in(expert_page, asgi_server, expert.user.email)
    expert_page.wait_for_url(re.compile(r"/profile/$"))
    expect(expert_page.locator("body")).to_have_attribute("data-live", "connected")
    row = expert_page.locator(f"#credential-{credential.pk}")
    expect(row.locator(".status")).to_have_text("submitted")

    staff_context = browser.new_context()
    staff_page = staff_context.new_page()
    _log_in(staff_page, asgi_server, staff.email)
    staff_page.goto(f"{asgi_server}/staff/credentials/{credential.pk}/")
    staff_page.locator("#approve").get_by_label("Level").select_option("3")
    staff_page.get_by_role("button", name="Approve").click()
    expect(staff_page.get_by_text("Approved at level 3.")).to_be_visible()

    # No reload: the notice appears and the list is refreshed in place.
    expect(expert_page.locator("#live-notice")).to_have_text("Your credential “MSc Physics” is now approved.")
    expect(row.locator(".status")).to_have_text("approved")
    expect(expert_page.locator(f'#levels tr[data-domain="{credential.domain.path}"] .level')).to_have_text(
        "3 — expert"
    )

    staff_context.close()
    expert_context.close()
