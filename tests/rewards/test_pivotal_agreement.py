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
