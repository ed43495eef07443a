"""Helpers for the rewards tests: experts at a level, projects with a policy, final items."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from annotate.finalize import item_finalize
from rewards.credits import budget_credit, budget_credit_approve
from rewards.models import BudgetCredit
from rewards.services import reward_policy_create
from rlhf_platform.accounts.models import User
from tests.factories import (
    CredentialFactory,
    DomainFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
    StaffFactory,
)

TOKEN = 10**18
MULTIPLIERS = {"1": 10_000, "2": 12_500, "3": 15_000, "4": 20_000}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The budget gate caches commitments per lab; every test starts without."""
    cache.clear()
    yield
    cache.clear()


def expert_at(domain, level: int):
    expert = ExpertProfileFactory()
    CredentialFactory(expert=expert, domain=domain, approved=True, level=level)
    return expert


def policy_for(project, **overrides):
    """A policy version for ``project``. One of kind ``information`` pays without the evidence
    gate (``evidence_z_hundredths=0``) unless a test sets it: most tests here check the terms
    on windows of a few labels, which no gate at z = 2 lets through; the gate's own tests set it."""
    fields = {"base_rate": TOKEN, "level_multipliers_bp": MULTIPLIERS, **overrides}
    if fields.get("kind") == "information":
        fields.setdefault("evidence_z_hundredths", 0)
    return reward_policy_create(project=project, **fields)


def credit(lab, amount: int):
    """Credit a lab's budget as admins do: one asks, and above the threshold a second approves."""
    requested, _ = budget_credit(lab=lab, amount=amount, actor=_admin(), memo="test credit")
    if requested.status == BudgetCredit.Status.PENDING_APPROVAL:
        requested = budget_credit_approve(credit=requested, actor=_admin())
    return requested


def _admin():
    return StaffFactory(staff_role=User.StaffRole.ADMIN)


def finalise(item, capture, *, choice="A", strength=2.0, confidence=0.9):
    """Write the item's consensus and finalise it, running what follows the commit (the
    item_finalized hook, then the rewards task, eagerly)."""
    ItemConsensusFactory(item=item, choice=choice, strength=strength, confidence=confidence)
    with capture(execute=True):
        item_finalize(item=item)
    item.refresh_from_db()
    return item


@pytest.fixture
def project(db):
    return ProjectFactory(domain=DomainFactory(slug="chemistry"), gold_rate=0)


@pytest.fixture
def item(project):
    return ItemFactory(batch__project=project)


__all__ = ["LabelFactory", "ItemFactory", "TOKEN", "MULTIPLIERS"]
