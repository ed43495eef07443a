"""The staff adjudication pages: the queue, an item with its content and labels, the decision
and the next item, and the four-eyes refusal shown on the page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.models import Item, ItemConsensus
from rlhf_platform.audit.selectors import audit_events_for
from tests.factories import (
    BatchFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
)
from tests.quality.pipeline import expert_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_web(client, staff_user):
    client.force_login(staff_user)
    return client


def _waiting(project, *, age_hours: float = 1, ranking: bool = False, **fields):
    """An item two experts disagreed on (levels 3 and 4), waiting for adjudication."""
    item = ItemFactory(
        batch=BatchFactory(project=project),
        state=Item.State.ADJUDICATION,
        created_at=timezone.now() - dt.timedelta(hours=age_hours),
        **fields,
    )
    if ranking:
        ids = [r["id"] for r in item.responses]
        LabelFactory(item=item, expert=expert_for(project, level=3), ranking=[[i] for i in ids])
        LabelFactory(item=item, expert=expert_for(project, level=4), ranking=[[i] for i in reversed(ids)])
    else:
        LabelFactory(item=item, expert=expert_for(project, level=3), choice="A", strength=1)
        LabelFactory(
            item=item, expert=expert_for(project, level=4), choice="B", strength=3, rationale="B cites"
        )
    return item


def _item_url(item, project=None) -> str:
    url = reverse("staff-adjudication-item", kwargs={"item_id": item.uid})
    return f"{url}?project={project.pk}" if project else url


def test_queue_lists_items_in_adjudication_oldest_first_and_filters_by_project(staff_web):
    project, other = ProjectFactory(overlap=2, max_overlap=2), ProjectFactory(overlap=2, max_overlap=2)
    newer = _waiting(project, age_hours=1)
    older = _waiting(project, age_hours=5)
    elsewhere = _waiting(other, age_hours=3)
    ItemFactory(batch=BatchFactory(project=project), state=Item.State.FINAL, external_id="done-already")
    response = staff_web.get(reverse("staff-adjudication"))
    assert response.status_code == 200
    assert [row["item"] for row in response.context["rows"]] == [older, elsewhere, newer]
    assert b"done-already" not in response.content
    response = staff_web.get(reverse("staff-adjudication"), {"project": str(project.pk)})
    assert [row["item"] for row in response.context["rows"]] == [older, newer]
    assert response.context["next_item"] == older
    # An unknown or malformed filter filters nothing rather than failing.
    assert staff_web.get(reverse("staff-adjudication"), {"project": "nope"}).status_code == 200


def test_item_page_shows_content_labels_with_pseudonym_and_level_consensus_and_form(staff_web):
    project = ProjectFactory(overlap=2, max_overlap=2)
    item = _waiting(
        project,
        responses=[
            {"id": "r0", "model": "m0", "text": "**Bold** answer with `code`"},
            {"id": "r1", "model": "m1", "text": "Plain answer"},
        ],
    )
    ItemConsensusFactory(item=item, choice="A", confidence=0.55, posterior={"A": 0.55, "B": 0.45})
    response = staff_web.get(_item_url(item))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>Bold</strong>" in html and "**Bold**" not in html
    for label in item.labels.select_related("expert"):
        assert label.expert.pseudonym in html
    assert "3 · expert" in html and "4 · authority" in html
    assert "B cites" in html
    assert 'id="adjudication-posterior"' in html and "0.550" in html
    assert 'name="choice"' in html and 'name="strength"' in html
    assert (
        staff_web.get(reverse("staff-adjudication-item", kwargs={"item_id": project.pk})).status_code == 404
    )


def test_deciding_finalises_the_item_audits_it_and_goes_to_the_next_item(staff_web, staff_user):
    project = ProjectFactory(overlap=2, max_overlap=2)
    first, second = _waiting(project, age_hours=5), _waiting(project, age_hours=1)
    response = staff_web.post(
        _item_url(first), {"choice": "B", "strength": "2", "note": "B is right", "project": str(project.pk)}
    )
    assert response.status_code == 302
    assert response.url == _item_url(second, project)
    first.refresh_from_db()
    assert first.state == Item.State.FINAL
    consensus = ItemConsensus.objects.get(item=first)
    assert (consensus.method, consensus.choice, consensus.strength) == ("adjudicated", "B", 2)
    event = audit_events_for(target=first).get(action="quality.adjudicate")
    assert event.actor_id == staff_user.pk and event.data["note"] == "B is right"
    # The last one leads back to the (now empty) queue.
    response = staff_web.post(_item_url(second), {"choice": "A"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("staff-adjudication")
    assert b"No item is waiting for adjudication." in response.content


def test_ranking_items_are_decided_by_ranks_with_ties_as_groups(staff_web):
    project = ProjectFactory(ranking=True, overlap=2, max_overlap=2)
    item = _waiting(project, ranking=True)
    page = staff_web.get(_item_url(item)).content.decode()
    assert 'name="rank_0"' in page and 'name="choice"' not in page
    ranks = {"rank_0": "2", "rank_1": "1", "rank_2": "3", "rank_3": "1"}
    assert staff_web.post(_item_url(item), ranks).status_code == 302
    assert ItemConsensus.objects.get(item=item).ranking == [["r1", "r3"], ["r0"], ["r2"]]


def test_bad_decisions_are_shown_next_to_the_form(staff_web):
    project = ProjectFactory(overlap=2, max_overlap=2)
    item = _waiting(project)
    response = staff_web.post(_item_url(item), {"choice": "C", "strength": "9"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"choice", "strength"}
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION


def test_someone_who_labelled_the_item_is_refused_on_the_page(staff_web, staff_user):
    project = ProjectFactory(overlap=2, max_overlap=2)
    item = _waiting(project, slots=3)
    LabelFactory(item=item, expert=ExpertProfileFactory(user=staff_user), choice="A")
    page = staff_web.get(_item_url(item))
    assert page.status_code == 200
    assert b'id="adjudication-own"' in page.content and b'name="choice"' not in page.content
    # The queue marks it and the next item skips it.
    queue = staff_web.get(reverse("staff-adjudication"))
    assert queue.context["rows"][0]["own"] and queue.context["next_item"] is None
    response = staff_web.post(_item_url(item), {"choice": "A"})
    assert response.status_code == 200
    assert (
        "You labelled this item: someone who did not must adjudicate it."
        in response.context["form"].non_field_errors()
    )
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION


def test_an_item_decided_meanwhile_answers_with_its_state_not_an_error(staff_web):
    project = ProjectFactory(overlap=2, max_overlap=2)
    item = _waiting(project)
    Item.objects.filter(pk=item.pk).update(state=Item.State.FINAL)
    response = staff_web.post(_item_url(item), {"choice": "A"})
    assert response.status_code == 200
    assert "not waiting for adjudication" in str(response.context["form"].non_field_errors())
    assert b'name="choice"' not in staff_web.get(_item_url(item)).content


def test_experts_are_refused_and_visitors_asked_to_log_in(client, expert):
    project = ProjectFactory(overlap=2, max_overlap=2)
    item = _waiting(project)
    urls = [reverse("staff-adjudication"), _item_url(item)]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(expert.user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(_item_url(item), {"choice": "A"}).status_code == 403
    item.refresh_from_db()
    assert item.state == Item.State.ADJUDICATION


def test_the_staff_menu_links_the_queue(staff_web):
    assert reverse("staff-adjudication").encode() in staff_web.get(reverse("staff-adjudication")).content
