"""What every browser test shares: Debian's Chromium driven by Playwright for Python.

Tests here are marked ``browser`` and skipped, with the reason, when Chromium or Playwright is
missing (``apt-get install chromium``; Playwright cannot download browsers on this network).
"""

from __future__ import annotations

import os

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    skip = None
    if not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"needs Debian's Chromium at {CHROMIUM}")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)
            if skip is not None:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _allow_orm_in_playwright_thread(monkeypatch):
    # Playwright's sync API runs an event loop in this thread, so Django would refuse ORM
    # calls from the test body as "async unsafe". They are plain synchronous calls here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps the test body's connection in a
            # context variable: close it here, in that context, or it outlives the test
            # database (PostgreSQL then refuses to drop it).
            connections.close_all()


def logged_in(browser, live_server, email: str, password: str, **options):
    """A fresh browser context logged in as ``email``, and its page; every script error is
    collected in ``page.errors``. ``options`` go to the context (``bypass_csp=True`` lets a test
    inject a script). The caller closes the context."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return context, page
