"""The labelling workspace page: a shell that label.js fills through the queue API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import CredentialFactory, DomainFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_web(client, expert):
    client.force_login(expert.user)
    return client


def test_label_page_renders_for_an_expert_with_open_projects_and_the_script(expert_web, expert, domain):
    CredentialFactory(expert=expert, domain=domain, approved=True)
    open_project = ProjectFactory(domain=domain, name="Cardiology comparisons")
    ProjectFactory(domain=DomainFactory(), name="Someone else's field")
    response = expert_web.get(reverse("label"))
    assert response.status_code == 200
    html = response.content.decode()
    assert [p.pk for p in response.context["projects"]] == [open_project.pk]
    assert "Cardiology comparisons" in html and "Someone else&#x27;s field" not in html
    assert "js/label.js" in html
    assert 'id="label-form"' in html and "Keyboard shortcuts" in html
    assert f'data-csrf="{response.context["csrf_value"]}"' in html
    assert reverse("api-queue-next") in html
    assert f'href="{reverse("label")}"' in html  # the nav links here


def test_label_page_preselects_the_project_from_the_query_string(expert_web, expert, domain):
    CredentialFactory(expert=expert, domain=domain, approved=True)
    project = ProjectFactory(domain=domain)
    response = expert_web.get(reverse("label"), {"project": str(project.pk)})
    html = response.content.decode()
    assert f'data-project="{project.pk}"' in html
    assert f'<option value="{project.pk}" selected>' in html


def test_label_page_ignores_a_malformed_project_parameter(expert_web):
    response = expert_web.get(reverse("label"), {"project": "not-a-uuid"})
    assert response.status_code == 200
    assert 'data-project=""' in response.content.decode()


def test_label_page_tells_a_person_without_expert_profile_how_to_start(client):
    client.force_login(UserFactory())
    response = client.get(reverse("label"))
    assert response.status_code == 200
    assert "Labelling is for experts" in response.content.decode()
    assert list(response.context["projects"]) == []


def test_label_page_redirects_anonymous_visitors_to_login(client):
    response = client.get(reverse("label"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=/label/" in response["Location"]


def _no_template_syntax(html: str) -> None:
    # Django's {# #} comment is one line only: a comment over two lines is printed as text.
    assert "{#" not in html and "#}" not in html and "{%" not in html


def test_the_labelling_and_exam_pages_print_no_template_comment(expert_web, expert, domain):
    from annotate.qualification.services import exam_attempt_start, exam_create
    from tests.factories import ItemFactory

    CredentialFactory(expert=expert, domain=domain, approved=True)
    project = ProjectFactory(domain=domain, requires_qualification=True, gold_rate=0.0)
    ItemFactory(project=project, batch__project=project, is_gold=True, gold={"choice": "A"})
    exam = exam_create(project=project, name="Basics", pass_mark=1.0, retry_delay_seconds=60)
    attempt, _ = exam_attempt_start(exam=exam, expert=expert)
    for url in (reverse("label"), reverse("exam-take", kwargs={"attempt_id": attempt.pk})):
        response = expert_web.get(url)
        assert response.status_code == 200
        _no_template_syntax(response.content.decode())
