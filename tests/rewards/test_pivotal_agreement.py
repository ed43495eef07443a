"""The right term does not grade an annotator without a good gold record right on an agreement
their own vote carried (the item's consensus without their label, ``Label.loo_choice``, was
another answer); an annotator with a good record is graded against the consensus they weigh in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rewards.policy_information import agrees_on_its_own, label_right
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory, ProjectFactory


def graded_golds(project, expert, grades: str) -> None:
    """Gold labels of the expert in the project, oldest first: "1" passed, "0" failed."""
    from annotate.models import Label

    start = timezone.now() - dt.timedelta(hours=1)
    before = Label.objects.filter(expert=expert, is_gold=True).count()  # after the earlier ones
    for n, grade in enumerate(grades, start=before):
        item = ItemFactory(batch__project=project, gold_answer=True)
        LabelFactory(
            item=item, expert=expert, gold_passed=grade == "1", created_at=start + dt.timedelta(seconds=n)
        )


@pytest.mark.parametrize(
    ("choice", "loo", "trusted", "right"),
    [
        ("A", "A", False, True),  # the others alone reached A
        ("A", "", False, True),  # not computed: graded as before
        ("A", "B", False, False),  # carried by its own vote
        ("A", "B", True, True),  # a good record: its vote is part of the answer
        ("B", "B", True, False),  # disagrees with the consensus (A)
    ],
)
def test_agrees_on_its_own(choice, loo, trusted, right):
    assert agrees_on_its_own(choice=choice, reference="A", loo=loo, trusted=trusted) is right


@pytest.mark.django_db
def test_a_pivotal_agreement_is_right_only_for_an_annotator_with_a_good_gold_record():
    project = ProjectFactory(gold_threshold=0.55, gold_min_seen=3, gold_rate=0)
    item = ItemFactory(batch__project=project)
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)
    label = LabelFactory(item=item, choice="A", loo_choice="B")
    consensus = item.consensus
    assert label_right(label=label, consensus=consensus) is False  # no gold record yet
    graded_golds(project, label.expert, "100")
    assert label_right(label=label, consensus=consensus) is False  # a poor record
    graded_golds(project, label.expert, "111")
    assert label_right(label=label, consensus=consensus) is True  # its last 6 golds: 4 passed


@pytest.mark.django_db
def test_passes_banked_on_a_careful_start_expire():
    """The record that vouches is the last 2 x gold_min_seen golds, not the lifetime counts: 12
    passes then 8 failures is a good lifetime record (13/22) and a poor recent one (9/18)."""
    project = ProjectFactory(gold_threshold=0.55, gold_min_seen=8, gold_rate=0)
    item = ItemFactory(batch__project=project)
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)
    label = LabelFactory(item=item, choice="A", loo_choice="B")
    graded_golds(project, label.expert, "1" * 12)
    assert label_right(label=label, consensus=item.consensus) is True
    graded_golds(project, label.expert, "0" * 8)
    assert label_right(label=label, consensus=item.consensus) is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "passed", "failed", "right"),
    [
        (4, 2, 0, True),  # senior, a short record that is not bad
        (3, 1, 0, True),  # the project's senior_level
        (4, 0, 0, False),  # senior, no gold yet: nothing vouches
        (4, 1, 2, False),  # senior, a bad record
        (2, 2, 0, False),  # not senior: a short record is not enough
    ],
)
def test_a_senior_annotator_vouches_for_their_own_vote_with_a_short_record_that_is_not_bad(
    level, passed, failed, right
):
    """Verified seniority stands in for the length of the gold record, not for its quality: an
    expert right against a wrong majority carries the item long before 8 golds."""
    from tests.rewards.conftest import expert_at

    project = ProjectFactory(gold_threshold=0.55, gold_min_seen=8, gold_rate=0, senior_level=3)
    item = ItemFactory(batch__project=project)
    ItemConsensusFactory(item=item, choice="A", strength=2.0, confidence=0.9)
    label = LabelFactory(item=item, expert=expert_at(project.domain, level), choice="A", loo_choice="B")
    graded_golds(project, label.expert, "1" * passed + "0" * failed)
    assert label_right(label=label, consensus=item.consensus) is right


@pytest.mark.django_db
def test_settlement_regrades_a_pivotal_agreement_with_the_gold_record_then(
    django_capture_on_commit_callbacks,
):
    """An expert whose vote overturned a split before their gold record was long enough is not
    graded right when the reward is posted, and is paid the right term at settlement once their
    record is good; the same label of an annotator whose record stays poor is not."""
    import datetime as dt

    from django.utils import timezone

    from rewards.holdbacks import holdbacks_settle
    from rewards.models import LedgerTransaction
    from rewards.services import reward_reference
    from rewards.topups import topup_reference
    from tests.factories import DomainFactory
    from tests.rewards.conftest import credit, expert_at, finalise, policy_for

    project = ProjectFactory(
        domain=DomainFactory(slug="law"), gold_rate=0, gold_min_seen=3, gold_threshold=0.55
    )
    policy_for(project, kind="information", holdback_bp=2000, settle_seconds=3600)
    credit(project.lab, 10**21)
    good, poor = expert_at(project.domain, 4), expert_at(project.domain, 2)
    pivotal = {}
    for n in range(12):
        truth, other = "AB"[n % 2], "BA"[n % 2]
        item = ItemFactory(batch__project=project, slots=2)
        for expert in (good, poor):
            label = LabelFactory(
                item=item, expert=expert, choice=truth, loo_choice=other if n == 11 else truth
            )
            if n == 11:
                pivotal[expert.pk] = label
        finalise(item, django_capture_on_commit_callbacks, choice=truth)
    for expert in (good, poor):
        reward = LedgerTransaction.objects.get(reference=reward_reference(pivotal[expert.pk].pk))
        assert reward.data["right"] is False  # no gold record yet: carried by its own vote
    graded_golds(project, good, "111")
    graded_golds(project, poor, "000")

    holdbacks_settle(now=timezone.now() + dt.timedelta(hours=2), project_id=project.pk)

    settled = LedgerTransaction.objects.get(reference=topup_reference(pivotal[good.pk].pk))
    assert settled.data["right"] is True and settled.data["right_topup"] > 0
    poor_settled = LedgerTransaction.objects.filter(reference=topup_reference(pivotal[poor.pk].pk)).first()
    assert poor_settled is None or (
        poor_settled.data["right"] is False and poor_settled.data["right_topup"] == 0
    )
