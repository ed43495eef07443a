"""The role quick starts name pages and endpoints that exist and link to documents that exist, and
the README lists every document of docs/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[2]
QUICKSTARTS = sorted((ROOT / "docs").glob("*-quickstart.md"))


def _urls(text: str) -> set[str]:
    """Every path in a code span: ``/staff/credentials/<id>/`` (query and ``...`` left out)."""
    found = set()
    for span in re.findall(r"`([^`]+)`", text):
        for word in span.split():
            if word.startswith("/") and not word.startswith("//"):
                found.add(word.split("?")[0])
    return found


def test_there_are_quick_starts_for_experts_and_staff():
    assert {path.name for path in QUICKSTARTS} >= {"expert-quickstart.md", "staff-quickstart.md"}


@pytest.mark.parametrize("path", QUICKSTARTS, ids=[path.name for path in QUICKSTARTS])
def test_every_url_of_a_quick_start_resolves(path):
    urls = _urls(path.read_text())
    assert urls
    for url in urls:
        concrete = re.sub(r"<[^>]+>", str(uuid.uuid4()), url)
        try:
            resolve(concrete)
        except Resolver404:
            pytest.fail(f"{path.name}: {url} is no page or endpoint")


@pytest.mark.parametrize("path", QUICKSTARTS, ids=[path.name for path in QUICKSTARTS])
def test_every_link_of_a_quick_start_is_a_document_with_that_heading(path):
    for target, anchor in re.findall(r"\]\(([^)#]+\.md)(?:#([^)]+))?\)", path.read_text()):
        document = path.parent / target
        assert document.exists(), (path.name, target)
        if anchor:
            headings = {
                re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in document.read_text().splitlines()
                if line.startswith("#")
            }
            assert anchor in headings, (path.name, target, anchor)


def test_the_readme_lists_every_document():
    readme = (ROOT / "README.md").read_text()
    missing = [path.name for path in (ROOT / "docs").glob("*.md") if f"docs/{path.name}" not in readme]
    assert not missing, missing
