"""The staff menu leads to every staff page a reviewer works from; none is reachable only by
typing its address."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rlhf_platform.accounts.models import User
from tests.factories import ExpertProfileFactory, StaffFactory

pytestmark = pytest.mark.django_db

STAFF_PAGES = [
    "/staff/credentials/",
    "/staff/quality/",
    "/staff/adjudication/",
    "/staff/appeals/",
    "/staff/groups/",
    "/staff/budgets/",
    "/staff/payouts/",
    "/staff/pipeline/",
]


def _staff_menu(client: Client) -> str:
    page = client.get("/profile/").content.decode()
    match = re.search(r'<nav class="menu menu-staff" aria-label="Staff">.*?</nav>', page, re.S)
    assert match, "no staff menu"
    return match.group(0)


def test_the_staff_menu_links_every_staff_page():
    client = Client()
    client.force_login(StaffFactory(staff_role=User.StaffRole.REVIEWER))
    menu = _staff_menu(client)
    assert re.findall(r'href="([^"]+)"', menu) == STAFF_PAGES
    for path in STAFF_PAGES:
        assert client.get(path).status_code == 200, path


def test_an_expert_has_no_staff_menu():
    client = Client()
    client.force_login(ExpertProfileFactory().user)
    assert 'aria-label="Staff"' not in client.get("/profile/").content.decode()
