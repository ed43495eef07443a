"""``manage.py screenshots`` against the test server: two pages of two accounts, each at 1440
and 390 px, saved as PNG files of those widths; a page name it does not know is refused by name."""

from __future__ import annotations

import struct

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rlhf_platform.accounts.models import User
from tests.factories import PASSWORD, CredentialFactory, ProjectFactory, StaffFactory

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")


def _png_width(path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">I", data[16:20])[0]


def test_the_command_saves_each_page_at_each_width(live_server, tmp_path):
    expert = CredentialFactory(approved=True, expert__user__email="shots@example.org").expert
    staff = StaffFactory(staff_role=User.StaffRole.REVIEWER, email="shots-staff@example.org")
    ProjectFactory(name="Shots project")

    call_command(
        "screenshots",
        url=live_server.url,
        out=str(tmp_path / "shots"),
        pages="inbox,staff-quality",
        widths="1440,390",
        expert=expert.user.email,
        staff=staff.email,
        password=PASSWORD,
    )

    files = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert files == ["inbox-1440.png", "inbox-390.png", "staff-quality-1440.png", "staff-quality-390.png"]
    for name in files:
        assert _png_width(tmp_path / "shots" / name) == int(name.rsplit("-", 1)[1].removesuffix(".png"))


def test_an_unknown_page_or_width_is_refused_by_name(tmp_path):
    with pytest.raises(CommandError, match="unknown page dashboard; the pages are label, my-labels"):
        call_command("screenshots", url="http://127.0.0.1:9", out=str(tmp_path), pages="dashboard")
    with pytest.raises(CommandError, match="--widths"):
        call_command("screenshots", url="http://127.0.0.1:9", out=str(tmp_path), widths="wide")
    assert not any(tmp_path.iterdir())
