"""The group agreement signal: a copy ring whose pairs each share too few items to be flagged
is flagged as a group, exactly its members; an honest crowd forms no group; the threshold
counts every group of its size; and a flagged group is persisted with its evidence for staff."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from annotate.models import AnnotatorGroup
from annotate.quality.group_signals import (
    agreement_groups,
    group_threshold,
    members_answering_together,
)
from annotate.quality.groups import project_groups_detect
from annotate.quality.views_groups import _edges
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, LabelFactory, ProjectFactory
from tests.quality.crowd import coded_crowd, crowd_fit, crowd_signals


def test_the_score_of_two_members_is_the_pair_signal():
    coded, ring, n = coded_crowd(1, items=400, ring=3, experts=4, others=10)
    pairs, scorer = crowd_signals(coded, n, min_log_e=-np.inf)
    every = {(p.worker_a, p.worker_b): p.log_e for p in pairs}
    assert len(every) > 20
    for (a, b), log_e in list(every.items())[:20]:
        assert scorer.log_e([a, b])[0] == pytest.approx(log_e, abs=1e-9)


def test_a_ring_no_pair_of_which_is_flagged_is_flagged_as_a_group_of_exactly_its_members():
    """About 5 shared items a pair: each pair is short of the pair threshold, the group is not."""
    coded, ring, n = coded_crowd(7, items=1500, ring=4)
    pairs, scorer = crowd_signals(coded, n)
    assert not [p for p in pairs if p.flagged and {p.worker_a, p.worker_b} <= ring]
    groups = agreement_groups(scorer, pairs, n_workers=n)
    assert [set(g.members) for g in groups] == [ring]
    (group,) = groups
    assert group.flagged and group.agreed == group.items > 15
    assert group.threshold == pytest.approx(group_threshold(n, 4, alpha=0.01, max_size=12))


@pytest.mark.parametrize("seed", range(6))
def test_an_honest_crowd_forms_no_group(seed):
    coded, _, n = coded_crowd(100 + seed, items=1500)
    pairs, scorer = crowd_signals(coded, n)
    assert agreement_groups(scorer, pairs, n_workers=n, min_seed_log_e=0.0) == []


def test_the_threshold_counts_every_group_of_its_size_and_shares_alpha_among_the_sizes():
    assert group_threshold(73, 4, alpha=0.01, max_size=12) == pytest.approx(
        math.log(math.comb(73, 4) * 10 / 0.01)
    )
    assert group_threshold(73, 5, alpha=0.01, max_size=12) > group_threshold(73, 4, alpha=0.01, max_size=12)


@pytest.mark.django_db
def test_a_flagged_group_is_persisted_with_its_evidence_for_staff():
    coded, ring, n = coded_crowd(7, items=1500, ring=4)
    project = ProjectFactory()
    item = ItemFactory(batch=BatchFactory(project=project), slots=n)
    experts = [CredentialFactory(approved=True, domain=project.domain).expert for _ in range(n)]
    for expert in experts:
        LabelFactory(item=item, expert=expert, choice="A")
    fit = crowd_fit(coded, n)
    project_groups_detect(
        project=project,
        agreement={
            "coded": coded,
            "workers": [e.pk for e in experts],
            "confusion": np.asarray(fit.confusion),
            "priors": fit.priors,
            "gold": None,
        },
    )
    group = AnnotatorGroup.objects.get()
    assert {m.expert_id for m in group.members.all()} == {experts[w].pk for w in ring}
    assert group.signals == ["group_agreement"]
    assert len(group.evidence["edges"]) == 6
    (text,) = {s["text"] for edge in _edges(group) for s in edge["signals"]}
    assert text.startswith("the 4 accounts all agreed on ")
    assert "for a group of 4" in text


def test_an_honest_account_beside_a_farm_is_screened_out_of_its_group():
    """A flagged group says that some of its members answer together: an honest account that
    agreed with a farm on the answers everyone expected does not stay in it."""
    coded, farm, n = coded_crowd(7, items=1500, ring=8)
    _, scorer = crowd_signals(coded, n)
    agreements = Counter()
    by_item = {}
    for item, worker, answer in coded.tolist():
        by_item.setdefault(item, []).append((worker, answer))
    for labels in by_item.values():
        farm_answers = {a for w, a in labels if w in farm}
        for w, a in labels:
            if w not in farm and farm_answers == {a}:
                agreements[w] += 1
    honest, agreed = agreements.most_common(1)[0]
    assert agreed >= 5
    floor = math.log(n / 0.01)
    assert scorer.member_log_e(honest, sorted(farm)) < floor
    assert min(scorer.member_log_e(m, sorted(farm - {m})) for m in farm) >= floor
    assert members_answering_together(scorer, frozenset(farm | {honest}), n_workers=n, alpha=0.01) == farm
