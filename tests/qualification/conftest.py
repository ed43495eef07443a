from __future__ import annotations

import pytest

from annotate.qualification.services import exam_create
from tests.factories import CredentialFactory, DomainFactory, ItemFactory, ProjectFactory


@pytest.fixture
def domain(db):
    return DomainFactory(slug="law", name="Law")


@pytest.fixture
def project(domain, lab):
    return ProjectFactory(domain=domain, lab=lab, requires_qualification=True, gold_rate=0.0)


@pytest.fixture
def golds(project):
    """Three gold items: A (strength 2 to 3), B (any strength), tie."""
    answers = [
        {"choice": "A", "strength_min": 2, "strength_max": 3},
        {"choice": "B"},
        {"choice": "tie"},
    ]
    return [ItemFactory(project=project, batch__project=project, is_gold=True, gold=gold) for gold in answers]


@pytest.fixture
def exam(project, golds):
    return exam_create(project=project, name="Law basics", pass_mark=0.6, retry_delay_seconds=3600)


@pytest.fixture
def expert(domain):
    return CredentialFactory(domain=domain, approved=True).expert


def right_answer(question: dict, gold: dict, responses: list[dict]) -> dict:
    """The payload that answers ``question`` (as shown) correctly."""
    choice = gold["choice"]
    if choice in ("A", "B"):
        text = responses["AB".index(choice)]["text"]
        letter = next(r["label"] for r in question["responses"] if r["text"] == text)
        return {"choice": letter, "strength": gold.get("strength_min", 1)}
    return {"choice": choice}


def wrong_answer(question: dict, gold: dict, responses: list[dict]) -> dict:
    return {"choice": "both_bad"}
