"""The staff quality pages follow quality live: the fragments their script fetches again (a
project's summary, charts, tables and annotators for the page's own filters; the projects list's
table for its page), staff only, and the staff socket told when an expert's label changes a
project's quality, after which the fragment shows the new numbers."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.test import Client

from annotate.models import AnnotatorQuality
from rlhf_platform.asgi import application
from tests.factories import ExpertProfileFactory, ItemFactory, LabelFactory, ProjectFactory, StaffFactory
from tests.platform.test_notifications_websocket import PATH, TIMEOUT, _session_headers
from tests.platform.websocket_client import WebsocketClient
from tests.quality.pipeline import expert_for, next_assignment, submit

MISSING = "00000000-0000-0000-0000-000000000000"
PARTS = ("quality-summary", "quality-charts", "quality-tables", "annotators-live")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _staff() -> Client:
    client = Client()
    client.force_login(StaffFactory())
    return client


def _parts(html: str) -> list[str]:
    return re.findall(r'<[a-z]+ id="([a-z-]+)"[^>]*\sdata-live-part', html)


@pytest.mark.django_db
def test_the_project_page_marks_its_live_parts_and_names_their_fragment():
    project = ProjectFactory(name="Contract review")
    page = _staff().get(f"/staff/quality/projects/{project.pk}/").content.decode()
    assert _parts(page) == list(PARTS)
    assert f'data-live-url="/staff/quality/projects/{project.pk}/live/"' in page
    assert f'data-live-project="{project.pk}"' in page
    assert 'id="live-status"' in page and 'role="status"' in page
    # The filter form is not a live part: a reader typing in it is not interrupted.
    form_at, annotators_at = page.index('aria-label="Filter annotators"'), page.index('id="annotators-live"')
    assert form_at < annotators_at


@pytest.mark.django_db
def test_the_project_fragment_is_the_live_parts_alone_with_the_pages_filters():
    project = ProjectFactory()
    for pseudonym, status in (("steady-heron", "active"), ("quiet-lynx", "suspended")):
        expert = ExpertProfileFactory(pseudonym=pseudonym)
        AnnotatorQuality.objects.create(project=project, expert=expert, status=status)
        LabelFactory(item=ItemFactory(project=project, batch__project=project), expert=expert)
    staff = _staff()
    url = f"/staff/quality/projects/{project.pk}/live/"
    html = staff.get(url).content.decode()
    assert "<html" not in html and "<form" not in html
    assert _parts(html) == list(PARTS)
    assert "steady-heron" in html and "quiet-lynx" in html
    assert "2 labels on 2 items by 2 annotators" in html
    suspended = staff.get(url, {"status": "suspended"}).content.decode()
    assert "quiet-lynx" in suspended and "steady-heron" not in suspended
    assert staff.get(f"/staff/quality/projects/{MISSING}/live/").status_code == 404
    expert = Client()
    expert.force_login(ExpertProfileFactory().user)
    assert expert.get(url).status_code == 403


@pytest.mark.django_db
def test_the_projects_list_fragment_is_its_table_alone_for_staff_only():
    project = ProjectFactory(name="Radiology pairs")
    LabelFactory.create_batch(3, item=ItemFactory(project=project, batch__project=project))
    staff = _staff()
    page = staff.get("/staff/quality/").content.decode()
    assert _parts(page) == ["quality-projects-live"]
    assert 'data-live-url="/staff/quality/live/"' in page and 'data-live-project="*"' in page
    assert "js/quality_live.js" in page
    fragment = staff.get("/staff/quality/live/", {"page": 1}).content.decode()
    assert fragment.lstrip().startswith('<div id="quality-projects-live"') and "<html" not in fragment
    row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Radiology pairs</a></th>.*?</tr>", fragment, re.S)
    assert row and "<td>3</td>" in row.group(0)
    expert = Client()
    expert.force_login(ExpertProfileFactory().user)
    assert expert.get("/staff/quality/live/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_an_experts_label_tells_the_staff_socket_and_the_fragment_then_shows_it():
    project = ProjectFactory(overlap=2, max_overlap=2)
    ItemFactory(batch__project=project)
    expert = expert_for(project)
    staff_user = StaffFactory()
    headers = _session_headers(staff_user)
    staff = Client()
    staff.force_login(staff_user)
    before = staff.get(f"/staff/quality/projects/{project.pk}/live/").content.decode()
    assert "0 labels on 0 items" in before

    async def scenario():
        communicator = WebsocketClient(application, PATH, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        assignment = await sync_to_async(next_assignment)(expert, project)
        await sync_to_async(submit)(assignment, expert, choice="A")
        message = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "quality.changed", "project": str(project.pk)}
    after = staff.get(f"/staff/quality/projects/{project.pk}/live/").content.decode()
    assert "1 labels on 1 items by 1 annotators" in after
    assert expert.pseudonym in after
    listed = staff.get("/staff/quality/live/").content.decode()
    assert "<td>1</td>" in listed


@pytest.mark.django_db
def test_the_adjudication_queue_follows_items_sent_to_adjudication():
    project = ProjectFactory()
    staff = _staff()
    page = staff.get("/staff/adjudication/").content.decode()
    assert _parts(page) == ["adjudication-live"]
    assert 'data-live-url="/staff/adjudication/"' in page and 'data-live-project="*"' in page
    assert 'data-live-events="quality.adjudication_needed quality.changed"' in page
    assert "js/quality_live.js" in page
    # The filter is not a live part; a filtered queue follows its project only.
    assert page.index('aria-label="Filter"') < page.index('id="adjudication-live"')
    filtered = staff.get("/staff/adjudication/", {"project": str(project.pk)}).content.decode()
    assert f'data-live-project="{project.pk}"' in filtered
