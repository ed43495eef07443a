"""The right term does not grade an annotator without a good gold record right on an agreement
their own vote carried (the item's consensus without their label, ``Label.loo_choice``, was
another answer); an annotator with a good record is graded against the consensus they weigh in."""

from __future__ import annotations

import pytest

from annotate.models import AnnotatorQuality
from rewards.policy_information import agrees_on_its_own, label_right
from tests.factories import ItemConsensusFactory, ItemFactory, LabelFactory, ProjectFactory


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
    AnnotatorQuality.objects.create(project=project, expert=label.expert, gold_passed=1, gold_failed=2)
    assert label_right(label=label, consensus=consensus) is False  # a poor record
    AnnotatorQuality.objects.filter(project=project, expert=label.expert).update(gold_passed=3, gold_failed=0)
    assert label_right(label=label, consensus=consensus) is True


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
    AnnotatorQuality.objects.create(
        project=project, expert=label.expert, gold_passed=passed, gold_failed=failed
    )
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
    AnnotatorQuality.objects.create(project=project, expert=good, gold_passed=3, gold_failed=0)
    AnnotatorQuality.objects.create(project=project, expert=poor, gold_passed=0, gold_failed=3)

    holdbacks_settle(now=timezone.now() + dt.timedelta(hours=2), project_id=project.pk)

    settled = LedgerTransaction.objects.get(reference=topup_reference(pivotal[good.pk].pk))
    assert settled.data["right"] is True and settled.data["right_topup"] > 0
    poor_settled = LedgerTransaction.objects.filter(reference=topup_reference(pivotal[poor.pk].pk)).first()
    assert poor_settled is None or (
        poor_settled.data["right"] is False and poor_settled.data["right_topup"] == 0
    )
