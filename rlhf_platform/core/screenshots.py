"""Screenshots of the main pages, to look at: ``python manage.py screenshots`` (docs/testing.md).

Debian's Chromium, driven by Playwright, logs in to a running server (``make run``) as the demo
expert, the demo reviewer and the demo lab owner, opens each page at each width and saves a
full-page PNG named ``<page>-<width>.png``. It only reads pages, except that opening the
labelling page leases the expert an item, as it would in a person's browser (the lease ends on
its own).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WIDTHS = (1440, 390)
HEIGHT = 900
SETTLE_MS = 5000  # how long a page's own requests (the labelling page's item, charts) may take


@dataclass(frozen=True)
class Shot:
    name: str
    who: str  # "expert", "staff" or "owner"
    path: str
    # Open the first link on the page whose path matches, if there is one (a project, an item).
    follow: str = ""


PAGES = (
    Shot("label", "expert", "/label/"),
    Shot("my-labels", "expert", "/me/labels/"),
    Shot("quality", "expert", "/me/quality/"),
    Shot("earnings", "expert", "/earnings/"),
    Shot("inbox", "expert", "/inbox/"),
    Shot("staff-quality", "staff", "/staff/quality/", follow=r"^/staff/quality/projects/[0-9a-f-]{36}/$"),
    Shot("adjudication", "staff", "/staff/adjudication/", follow=r"^/staff/adjudication/[0-9a-f-]{36}/$"),
    Shot("lab-console", "owner", "/labs/"),
)
PAGE_NAMES = tuple(shot.name for shot in PAGES)

DEMO_ACCOUNTS = {"expert": "ada@demo.local", "staff": "reviewer@demo.local", "owner": "owner@demo.local"}


class ScreenshotError(Exception):
    pass


def _log_in(page, base_url: str, email: str, password: str) -> None:
    try:
        page.goto(f"{base_url}/login/")
    except Exception as exc:  # Playwright's error: refused, unknown host, a timeout
        raise ScreenshotError(f"could not open {base_url}/login/ (is the server running?): {exc}") from exc
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if "/login/" in page.url:
        raise ScreenshotError(f"could not log in as {email} at {base_url} (is the demo seeded?)")


def _settle(page) -> None:
    # A page that keeps polling is shot as it is after SETTLE_MS.
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=SETTLE_MS)


def _open(page, base_url: str, shot: Shot) -> None:
    response = page.goto(base_url + shot.path)
    if response is not None and response.status >= 400:
        raise ScreenshotError(f"{shot.path} answered {response.status}")
    if shot.follow:
        hrefs = page.eval_on_selector_all("main a[href]", "links => links.map(a => a.getAttribute('href'))")
        target = next((href for href in hrefs if re.match(shot.follow, href.split("#")[0])), None)
        if target:
            page.goto(base_url + target)
    _settle(page)


def screenshots_take(
    *,
    base_url: str,
    out_dir: Path,
    pages: list[str] | None = None,
    widths: tuple[int, ...] = WIDTHS,
    accounts: dict[str, str] | None = None,
    password: str,
    chromium: str = CHROMIUM,
) -> list[Path]:
    """Save ``<page>-<width>.png`` in ``out_dir`` for each page (all of :data:`PAGES` unless
    named) and width; returns the files written."""
    from playwright.sync_api import sync_playwright

    base_url = base_url.rstrip("/")
    accounts = {**DEMO_ACCOUNTS, **(accounts or {})}
    wanted = [shot for shot in PAGES if pages is None or shot.name in pages]
    unknown = sorted(set(pages or ()) - set(PAGE_NAMES))
    if unknown:
        raise ScreenshotError(f"unknown page {', '.join(unknown)}; the pages are {', '.join(PAGE_NAMES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            for who in dict.fromkeys(shot.who for shot in wanted):
                context = browser.new_context(viewport={"width": widths[0], "height": HEIGHT})
                page = context.new_page()
                _log_in(page, base_url, accounts[who], password)
                for shot in (shot for shot in wanted if shot.who == who):
                    for width in widths:
                        page.set_viewport_size({"width": width, "height": HEIGHT})
                        _open(page, base_url, shot)
                        path = out_dir / f"{shot.name}-{width}.png"
                        page.screenshot(path=str(path), full_page=True)
                        written.append(path)
                context.close()
        finally:
            browser.close()
    return written
