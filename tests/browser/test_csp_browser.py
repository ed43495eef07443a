"""Under the production Content-Security-Policy the pages' scripts still run (they are files)
and Swagger UI renders at /api/docs/; the browser refuses nothing."""

from __future__ import annotations

import pytest

from rlhf_platform.accounts.models import ApiKey
from tests.browser.conftest import logged_in
from tests.factories import PASSWORD, ExpertProfileFactory, LabMembershipFactory, make_api_key

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
expect = playwright_api.expect


def _policy_refusals(page) -> list[str]:
    refusals: list[str] = []
    page.on(
        "console",
        lambda message: refusals.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return refusals


def test_swagger_ui_renders_under_its_policy(live_server, browser):
    context = browser.new_context()
    page = context.new_page()
    refusals = _policy_refusals(page)
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "Content-Security-Policy" in {name.title(): value for name, value in response.headers.items()}
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("RLHF", timeout=20_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert refusals == []
    context.close()


def test_the_profile_and_the_key_revoke_confirmation_run_under_the_policy(live_server, browser):
    expert = ExpertProfileFactory()
    owner = LabMembershipFactory(user=expert.user)
    api_key, _ = make_api_key(owner.lab)
    context, page = logged_in(browser, live_server, expert.user.email, PASSWORD)
    refusals = _policy_refusals(page)
    page.goto(f"{live_server.url}/profile/")
    expect(page.get_by_role("link", name="Change your password")).to_be_visible()

    page.goto(f"{live_server.url}/labs/{owner.lab.slug}/keys/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke").click()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None  # dismissed: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked; it no longer works")).to_be_visible()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert refusals == [] and page.errors == []
    context.close()
