"""Rewards of kind "information": the Correlated Agreement term, chance-corrected accuracy
(gold from the first one, consensus on ordinary items), holdbacks and adjustments."""

from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction
from unittest.mock import patch

import pytest
from django.test import override_settings
from django.utils import timezone

from annotate.models import ItemConsensus, Label, ProjectSuspension
from rewards.holdbacks import (
    holdback_move,
    holdbacks_pending,
    holdbacks_settle,
    release_reference,
    reward_adjustments_post,
)
from rewards.ledger import ReferenceConflict, expert_account, ledger_balances, ledger_post
from rewards.models import LedgerAccount, LedgerTransaction, RewardPolicy
from rewards.peer_prediction import (
    ProjectStats,
    _other_labels,
    ca_score,
    delta_sign_estimate,
    peer_average,
    peer_gate,
)
from rewards.policy import policy_max_reward
from rewards.policy_information import information_compute, known_rows, label_right, right_rate
from rewards.selectors import lab_budget_balance, ledger_check
from rewards.services import clawbacks_reconcile, reward_reference
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import ItemFactory, LabelFactory
from tests.rewards.conftest import MULTIPLIERS, credit, expert_at, finalise, policy_for

CHOICES = ("A", "B", "tie", "both_bad")
PRIOR = (45, 45, 7, 3)


def _info_policy(project, **overrides):
    return policy_for(project, base_rate=10_000, kind="information", **overrides)


def _reward(label) -> LedgerTransaction:
    return LedgerTransaction.objects.get(reference=reward_reference(label.pk))


# --- The mechanism on a simulated crowd (no database) ----------------------------------------


def _simulated(rng: random.Random, items: int = 600):
    truth = {i: rng.choices(CHOICES, weights=PRIOR)[0] for i in range(items)}

    def honest(i: int, accuracy: float) -> str:
        if rng.random() < accuracy:
            return truth[i]
        return rng.choice([c for c in CHOICES if c != truth[i]])

    honest_labels = {f"h{n}": {i: honest(i, 0.7) for i in truth} for n in range(3)}
    fixed = [rng.choice(CHOICES) for _ in range(50)]
    strategies = {
        "random": {i: rng.choice(CHOICES) for i in truth},
        "always_a": dict.fromkeys(truth, "A"),
        "constant_tie": dict.fromkeys(truth, "tie"),
        "fixed_answer_copied": {i: fixed[i % len(fixed)] for i in truth},
        "honest": {i: honest(i, 0.7) for i in truth},
    }
    return truth, honest_labels, strategies


def _mean_score(labels: dict, honest_labels: dict, sign: dict, seed: int) -> float:
    rng = random.Random(seed)
    scores = []
    mine = sorted(labels.items())
    for i, choice in labels.items():
        peers = [(key, theirs[i], sorted(theirs.items())) for key, theirs in honest_labels.items()]
        score, _ = ca_score(item_id=i, choice=choice, peers=peers, mine=mine, sign=sign, rng=rng)
        scores.append(score)
    return float(sum(scores) / len(scores))


def test_strategies_that_ignore_the_item_earn_zero_expected_peer_term_and_honesty_earns_more():
    truth, honest_labels, strategies = _simulated(random.Random(7))
    sign = delta_sign_estimate([[h[i] for h in honest_labels.values()] for i in truth])
    assert {"A|A", "B|B"} <= set(sign["estimated"])
    means = {name: _mean_score(labels, honest_labels, sign, seed=3) for name, labels in strategies.items()}
    # 600 labels, scores in [-1, 1]: the sample mean of a zero-mean score is within 0.06 (3 sigma)
    for name in ("random", "always_a", "constant_tie", "fixed_answer_copied"):
        assert abs(means[name]) < 0.06, (name, means)
    assert means["honest"] > 0.15


def test_the_chance_corrected_accuracy_of_always_a_is_zero_and_of_an_honest_window_positive():
    reference = {
        "A": Fraction(45, 100),
        "B": Fraction(45, 100),
        "tie": Fraction(7, 100),
        "both_bad": Fraction(3, 100),
    }
    rng = random.Random(5)
    truth = [rng.choices(CHOICES, weights=PRIOR)[0] for _ in range(2000)]
    always_a = right_rate(window=[("A", t == "A") for t in truth], reference=reference, prior=0)
    assert abs(Fraction(always_a["g"]) - 0) < Fraction(3, 100)
    honest = [(t if rng.random() < 0.7 else rng.choice([c for c in CHOICES if c != t])) for t in truth]
    rate = right_rate(
        window=[(h, h == t) for h, t in zip(honest, truth, strict=True)], reference=reference, prior=0
    )
    assert Fraction(rate["g"]) > Fraction(3, 10)
    # the window's right labels together earn n x G, none of it on the wrong ones
    assert Fraction(rate["per_right"]) * rate["hits"] == Fraction(rate["g"]) * rate["n"]


def _window_scores(labels: dict, honest_labels: dict, sign: dict, seed: int) -> list[Fraction]:
    rng = random.Random(seed)
    mine = sorted(labels.items())
    scores = []
    for i, choice in labels.items():
        peers = [(key, theirs[i], sorted(theirs.items())) for key, theirs in honest_labels.items()]
        score, _ = ca_score(item_id=i, choice=choice, peers=peers, mine=mine, sign=sign, rng=rng)
        scores.append(score)
    return scores


def test_the_evidence_gate_stops_paying_the_clipped_noise_of_item_ignoring_windows():
    """Clipping a window's average at 0 pays an item-ignoring strategy E[max(0, mean)] a label;
    the gate pays a window only when it shows information at z = 2. Over windows of 50 labels:
    item-ignoring strategies keep at most a fifth of what clipping paid them, an honest
    annotator at 70% passes nearly always and is then paid exactly as without the gate."""
    truth, honest_labels, strategies = _simulated(random.Random(11), items=1000)
    sign = delta_sign_estimate([[h[i] for h in honest_labels.values()] for i in truth])
    z = Fraction(2)
    for name in ("random", "always_a", "fixed_answer_copied", "honest"):
        scores = _window_scores(strategies[name], honest_labels, sign, seed=4)
        windows = [scores[n : n + 50] for n in range(0, len(scores) - 50, 25)]
        clipped = sum(peer_average(w, 5) for w in windows)
        gated = sum(peer_average(w, 5, z) for w in windows)
        if name == "honest":
            passed = sum(peer_average(w, 5, z) > 0 for w in windows)
            assert passed >= 0.9 * len(windows), (passed, len(windows))
            assert all(peer_average(w, 5, z) in (0, peer_average(w, 5)) for w in windows)
        else:
            assert gated <= clipped / 5, (name, float(gated), float(clipped))


def test_the_evidence_gate_of_the_right_term_tests_hits_against_chance():
    reference = {
        "A": Fraction(45, 100),
        "B": Fraction(45, 100),
        "tie": Fraction(7, 100),
        "both_bad": Fraction(3, 100),
    }
    # always "A" (chance 0.45): 27 right of 50 is 4.5 above chance, 1.3 standard deviations
    lucky = [("A", n < 27) for n in range(50)]
    assert Fraction(right_rate(window=lucky, reference=reference, prior=5)["g"]) > 0
    gated = right_rate(window=lucky, reference=reference, prior=5, z=Fraction(2))
    assert (gated["g"], gated["per_right"], gated["shown"]) == ("0", "0", False)
    # an honest window, 35 right of 50 over the four answers: shown, and paid as without the gate
    answers = ["A", "B"] * 22 + ["tie"] * 4 + ["both_bad"] * 2
    honest = [(c, n < 35) for n, c in enumerate(answers)]
    assert right_rate(window=honest, reference=reference, prior=5, z=Fraction(2)) == {
        **right_rate(window=honest, reference=reference, prior=5),
        "shown": True,
    }
    # a single score or a lone right gold shows nothing yet: held until the record does
    assert peer_average([Fraction(1)], 0, Fraction(2)) == 0
    assert peer_average([Fraction(1)], 0) == 1


def test_the_sign_of_delta_falls_back_to_agreement_before_enough_pairs():
    assert delta_sign_estimate([["A", "B"]]) == {"estimated": [], "pairs": 2}


# --- Postings -------------------------------------------------------------------------------------


def _crowd_item(project, answers, *, consensus="A", experts=None, capture=None):
    item = ItemFactory(batch__project=project, slots=len(answers))
    labels = [
        LabelFactory(item=item, expert=experts[n] if experts else expert_at(project.domain, 3), choice=choice)
        for n, choice in enumerate(answers)
    ]
    if capture is not None:
        finalise(item, capture, choice=consensus)
    return item, labels


@pytest.mark.django_db
def test_an_information_reward_posts_paid_and_held_shares_with_every_term(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("rewards.policy_information.young_labels", lambda policy: 1)  # no young record
    policy = _info_policy(project, holdback_bp=2500, score_prior=0, score_window=5)
    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(3)]
    for n in range(4):  # earlier work of the same three, so that peers have other labels
        answer = "AB"[n % 2]
        _crowd_item(
            project,
            [answer, answer, "A"],
            experts=experts,
            consensus=answer,
            capture=django_capture_on_commit_callbacks,
        )
    _item, labels = _crowd_item(
        project, ["A", "A", "B"], experts=experts, consensus="A", capture=django_capture_on_commit_callbacks
    )
    right = _reward(labels[0])
    data = right.data
    assert data["kind"] == "information" and data["right"] is True and data["reference"] == "consensus"
    assert data["amount"] == data["peer_amount"] + data["right_amount"] == int(right.amount)
    assert data["held"] == data["amount"] * 2500 // 10_000 and data["paid"] == data["amount"] - data["held"]
    assert data["level"] == 3 and data["multiplier_bp"] == 15_000
    assert data["right_amount"] > 0
    assert _reward(labels[2]).data["right"] is False and _reward(labels[2]).data["right_amount"] == 0
    legs = sorted((e.account.kind, int(e.amount)) for e in right.entries.select_related("account"))
    assert legs == sorted(
        [("lab_budget", -data["amount"]), ("annotator", data["paid"]), ("held", data["held"])]
    )
    assert int(right.amount) <= policy_max_reward(policy) == 10_000 * 20_000 * 2 // 10_000
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_recompute_draws_the_same_peers_and_gives_the_same_amount(
    project, django_capture_on_commit_callbacks
):
    _info_policy(project)
    experts = [expert_at(project.domain, 2) for _ in range(3)]
    for _ in range(5):
        _crowd_item(project, ["A", "B", "A"], experts=experts, capture=django_capture_on_commit_callbacks)
    item, labels = _crowd_item(
        project, ["A", "A", "B"], experts=experts, capture=django_capture_on_commit_callbacks
    )
    posted = _reward(labels[1]).data
    label = Label.objects.select_related("item", "project__domain", "expert").get(pk=labels[1].pk)
    policy = RewardPolicy.objects.get(pk=posted["policy_id"])
    again = information_compute(
        label=label,
        policy=policy,
        consensus=ItemConsensus.objects.get(item=item),
        stats=ProjectStats(project_id=project.pk, until=item.finalized_at),
    )
    assert again["peer"]["draws"] == posted["peer"]["draws"]
    assert again["peer"]["score"] == posted["peer"]["score"]


@pytest.mark.django_db
def test_gold_pays_from_the_first_graded_gold(project, django_capture_on_commit_callbacks):
    _info_policy(project, score_prior=0)
    expert = expert_at(project.domain, 1)
    gold = ItemFactory(batch__project=project, is_gold=True, gold={"choice": "B"})
    LabelFactory(
        item=gold,
        expert=expert,
        choice="B",
        gold_passed=True,
        created_at=timezone.now() - dt.timedelta(minutes=5),
    )
    item, labels = _crowd_item(
        project, ["A"], experts=[expert], consensus="A", capture=django_capture_on_commit_callbacks
    )
    window = _reward(labels[0]).data["right_window"]
    assert window["n"] == 2 and window["hits"] == 2  # the one gold counts: no dead zone
    assert _reward(labels[0]).data["right_amount"] > 0


@pytest.mark.django_db
def test_an_expert_right_against_a_wrong_majority_is_paid_when_the_consensus_is_right(
    project, django_capture_on_commit_callbacks
):
    _info_policy(project, score_prior=0, right_weight_bp=20_000)
    expert = expert_at(project.domain, 4)
    for _ in range(3):  # the expert's record: right on earlier items
        _crowd_item(
            project, ["B"], experts=[expert], consensus="B", capture=django_capture_on_commit_callbacks
        )
    _item, labels = _crowd_item(
        project,
        ["A", "B", "B"],
        experts=[expert, expert_at(project.domain, 1), expert_at(project.domain, 1)],
        consensus="A",  # the gold-anchored, expert-weighted consensus sides with the expert
        capture=django_capture_on_commit_callbacks,
    )
    assert _reward(labels[0]).data["right"] is True
    assert int(_reward(labels[0]).amount) >= 10_000  # at least the base rate
    assert _reward(labels[1]).data["right_amount"] == 0


@pytest.mark.django_db
def test_an_agreement_that_broke_a_tie_is_left_out_of_the_right_window(
    project, django_capture_on_commit_callbacks
):
    """A vote that sides with one of two disagreeing labels ends the item at three: the consensus
    without it is the tie, decided by the other two voters' weights, and siding with the other
    side would have sent the item to more annotators. Such votes were graded right 82% to 93% of
    the time whoever cast them, item-ignoring accounts included, so for an annotator without a
    vouching record they are left out of the right window (the label itself is still graded
    against its consensus); a dissent stays in, as do a trusted annotator's agreements."""
    policy = _info_policy(project, score_prior=0)
    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(3)]
    capture = django_capture_on_commit_callbacks
    _crowd_item(project, ["A", "A", "A"], experts=experts, consensus="A", capture=capture)  # known, right
    _item, tied = _crowd_item(project, ["B", "B", "A"], experts=experts, consensus="B", capture=capture)
    _item, dissent = _crowd_item(project, ["A", "B", "B"], experts=experts, consensus="B", capture=capture)
    later = timezone.now() + dt.timedelta(seconds=1)

    untrusted = known_rows(label=dissent[0], policy=policy, until=later, trusted=False)
    assert [(choice, right) for _at, choice, right in untrusted] == [("A", False), ("A", True)]
    trusted = known_rows(label=dissent[0], policy=policy, until=later, trusted=True)
    assert [(choice, right) for _at, choice, right in trusted] == [("A", False), ("B", True), ("A", True)]
    consensus = ItemConsensus.objects.get(item=tied[0].item)
    assert label_right(label=tied[0], consensus=consensus, trusted=False) is True  # its own grade


@pytest.mark.django_db
def test_labels_a_suspension_excluded_stay_in_the_annotators_own_record(
    project, django_capture_on_commit_callbacks
):
    """An account careful at first and spamming later is suspended from the change point: the
    spam leaves the consensus, not the record its pay rate is measured on. Leaving it out of the
    windows would pay the careful labels at the careful rate, so that being caught paid more than
    not being caught."""
    policy = _info_policy(project, score_prior=0)
    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(3)]
    capture = django_capture_on_commit_callbacks
    careful = [
        _crowd_item(project, ["A", "A", "A"], experts=experts, consensus="A", capture=capture)[1][0]
        for _ in range(2)
    ]
    spam = [
        _crowd_item(project, ["B", "A", "A"], experts=experts, consensus="A", capture=capture)[1][0]
        for _ in range(2)
    ]
    Label.objects.filter(pk__in=[label.pk for label in spam]).update(excluded_from_consensus=True)
    later = timezone.now() + dt.timedelta(seconds=1)

    rows = known_rows(label=careful[0], policy=policy, until=later, trusted=True)
    assert sorted(right for _at, _choice, right in rows) == [False, False, True, True]
    mine = _other_labels(expert_id=experts[0].pk, project_id=project.pk, until=later)
    assert {item_id for item_id, _choice in mine} >= {label.item_id for label in spam}


# --- Holdbacks ------------------------------------------------------------------------------------


def _rewarded(project, capture, *, experts=None):
    # a window of 2 and no young record: only holdback_bp of the second label is held
    _info_policy(project, score_prior=0, holdback_bp=5000, settle_seconds=3600, score_window=2)
    credit(project.lab, 10**9)
    experts = experts or [expert_at(project.domain, 3) for _ in range(2)]
    with patch("rewards.policy_information.young_labels", lambda policy: 1):
        _crowd_item(project, ["B", "B"], experts=experts, consensus="B", capture=capture)
        _item, labels = _crowd_item(project, ["A", "A"], experts=experts, consensus="A", capture=capture)
    return labels[0]


@pytest.mark.django_db
def test_a_label_is_held_in_full_while_its_windows_still_hold_the_young_record(
    project, django_capture_on_commit_callbacks
):
    """Windows of known answers lag the labels, so the first labels past the young record were
    rated on windows of the young record: an account careful for its first golds and
    item-ignoring after them was paid 80% of its careful rate at once on them. Such a label is
    held in full (it was paid at once before); the first whose windows are past the young record
    is paid at once, less the holdback."""
    _info_policy(project, score_prior=0, holdback_bp=2000, score_window=2)
    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(2)]
    whys, held_bp, reasons = [], [], []
    with override_settings(REWARDS_HOLD_IN_FULL_WINDOWS=1):  # the young record: the first label
        for answer in "ABAB":
            _item, labels = _crowd_item(
                project,
                [answer, answer],
                experts=experts,
                consensus=answer,
                capture=django_capture_on_commit_callbacks,
            )
            data = _reward(labels[0]).data
            whys.append(data["held_in_full_why"])
            held_bp.append(data["holdback_bp"])
            reasons.append(data["held_reason"])
    assert whys == ["young", "windows", None, None]
    assert held_bp == [10_000, 10_000, 2000, 2000]
    assert "still hold your first 2 labels" in reasons[1] and "your first 2 labels" in reasons[0]


@pytest.mark.django_db
def test_a_held_share_is_released_after_the_settling_period_once(project, django_capture_on_commit_callbacks):
    label = _rewarded(project, django_capture_on_commit_callbacks)
    held = _reward(label).data["held"]
    assert held > 0
    assert ledger_balances(expert_id=label.expert_id)["held"] > 0
    assert holdbacks_pending(expert_id=label.expert_id)[0]["reason"] == "settling period"
    assert holdbacks_settle()["release"] == 0
    later = timezone.now() + dt.timedelta(hours=2)
    # every reward settles, those that held nothing too (their settlement may top them up)
    assert holdbacks_settle(now=later)["release"] == 4
    assert holdbacks_settle(now=later)["release"] == 0  # idempotent
    assert LedgerTransaction.objects.filter(reference=release_reference(label.pk)).count() == 1
    balances = ledger_balances(expert_id=label.expert_id)
    assert balances["held"] == 0
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_suspended_annotators_share_waits_then_is_forfeited_when_the_suspension_stands(
    project, django_capture_on_commit_callbacks
):
    label = _rewarded(project, django_capture_on_commit_callbacks)
    budget_before = lab_budget_balance(lab_id=project.lab_id)
    reward = _reward(label)
    suspension = ProjectSuspension.objects.create(project=project, expert=label.expert, reason="staff")
    Label.objects.filter(pk=label.pk).update(excluded_from_consensus=True, excluded_by=suspension)
    later = timezone.now() + dt.timedelta(minutes=30)
    assert holdbacks_settle(now=later)["forfeit"] == 0  # not yet decided: waits
    assert "suspended" in holdbacks_pending(expert_id=label.expert_id)[0]["reason"]
    ProjectSuspension.objects.filter(pk=suspension.pk).update(appeal=ProjectSuspension.Appeal.UPHELD)
    assert holdbacks_settle(now=later)["forfeit"] == 1
    assert clawbacks_reconcile() == 1
    # the clawback took the paid share, the forfeit the held one: the lab has its money back
    assert lab_budget_balance(lab_id=project.lab_id) == budget_before + int(reward.amount)
    with pytest.raises(ApplicationError) as closed:
        holdback_move(reward=reward, verdict="release", reason="try")
    assert closed.value.code == "holdback_closed"
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_label_a_standing_suspension_did_not_exclude_settles_instead_of_waiting_for_ever(
    project, django_capture_on_commit_callbacks
):
    """The labels before a suspension's change point stay in consensus; their held shares wait
    while an appeal is pending or the settling period runs, then settle (rated again) once the
    suspension stands, instead of waiting as long as the suspension lasts."""
    label = _rewarded(project, django_capture_on_commit_callbacks)
    suspension = ProjectSuspension.objects.create(
        project=project,
        expert=label.expert,
        reason="staff",
        created_at=timezone.now() + dt.timedelta(minutes=30),
    )
    # the reward's settling period (1 h) is over, the suspension's (1 h from its start) is not
    soon = timezone.now() + dt.timedelta(minutes=80)
    counts = holdbacks_settle(now=soon, project_id=project.pk)
    assert counts["wait"] >= 1, counts
    assert not LedgerTransaction.objects.filter(reference=release_reference(label.pk)).exists()
    ProjectSuspension.objects.filter(pk=suspension.pk).update(appeal=ProjectSuspension.Appeal.PENDING)
    later = timezone.now() + dt.timedelta(hours=3)  # past the suspension's settling period too
    holdbacks_settle(now=later, project_id=project.pk)
    assert not LedgerTransaction.objects.filter(reference=release_reference(label.pk)).exists()
    ProjectSuspension.objects.filter(pk=suspension.pk).update(appeal=ProjectSuspension.Appeal.UPHELD)
    holdbacks_settle(now=later, project_id=project.pk)
    release = LedgerTransaction.objects.get(reference=release_reference(label.pk))
    assert "suspension that stands" in release.data["reason"]
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_crash_after_a_forfeit_is_posted_rolls_it_back_and_the_retry_posts_it_once(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    import rewards.holdbacks as holdbacks

    label = _rewarded(project, django_capture_on_commit_callbacks)
    suspension = ProjectSuspension.objects.create(
        project=project, expert=label.expert, reason="staff", appeal=ProjectSuspension.Appeal.UPHELD
    )
    Label.objects.filter(pk=label.pk).update(excluded_from_consensus=True, excluded_by=suspension)

    def crash(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(holdbacks, "audit_record", crash)
    with pytest.raises(RuntimeError):
        holdbacks_settle()
    assert not LedgerTransaction.objects.filter(kind="holdback_forfeit").exists()
    monkeypatch.undo()
    holdbacks_settle()
    holdbacks_settle()
    assert LedgerTransaction.objects.filter(kind="holdback_forfeit").count() == 1
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_a_repeated_holdback_reference_with_another_amount_is_refused(
    project, django_capture_on_commit_callbacks
):
    label = _rewarded(project, django_capture_on_commit_callbacks)
    holdbacks_settle(now=timezone.now() + dt.timedelta(hours=2))
    held = expert_account(kind=LedgerAccount.Kind.HELD, expert_id=label.expert_id)
    payable = expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=label.expert_id)
    with pytest.raises(ReferenceConflict):
        ledger_post(
            kind="holdback_release", reference=release_reference(label.pk), legs=[(held, -1), (payable, 1)]
        )


# --- Adjustments ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_revised_consensus_is_paid_as_an_adjustment_with_its_reason_once(
    project, django_capture_on_commit_callbacks
):
    _info_policy(project, score_prior=0)
    credit(project.lab, 10**9)
    expert = expert_at(project.domain, 3)
    for answer in ("B", "A"):  # the expert's record before
        _crowd_item(
            project, [answer], experts=[expert], consensus=answer, capture=django_capture_on_commit_callbacks
        )
    item, labels = _crowd_item(
        project,
        ["A", "B"],
        experts=[expert, expert_at(project.domain, 3)],
        consensus="B",
        capture=django_capture_on_commit_callbacks,
    )
    minority = labels[0]
    assert _reward(minority).data["right"] is False
    payable_before = ledger_balances(expert_id=expert.pk)["payable"]
    ItemConsensus.objects.filter(item=item).update(
        choice="A", revisions=[{"was": {"choice": "B"}, "now": {"choice": "A"}, "reason": "adjudicated"}]
    )
    assert reward_adjustments_post() == 2
    assert reward_adjustments_post() == 0
    adjustment = LedgerTransaction.objects.get(kind="reward_adjustment", label_id=minority.pk)
    assert "adjudicated" in adjustment.data["reason"]
    gained = int(adjustment.data["adjustment"])
    assert gained == _reward(minority).data["right_amount_if_right"] > 0
    assert ledger_balances(expert_id=expert.pk)["payable"] == payable_before + gained
    lost = LedgerTransaction.objects.get(kind="reward_adjustment", label_id=labels[1].pk)
    assert int(lost.data["adjustment"]) == -_reward(labels[1]).data["right_amount"]
    assert _reward(minority).data["right"] is False  # the reward itself is untouched
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


@pytest.mark.django_db
def test_the_old_kind_still_pays_old_items_exactly_as_before(
    project, item, django_capture_on_commit_callbacks
):
    policy = policy_for(project, base_rate=1000)
    assert policy.kind == "agreement"
    label = LabelFactory(item=item, expert=expert_at(project.domain, 3), choice="A", strength=2)
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    assert int(_reward(label).amount) == 1500 and "kind" not in _reward(label).data
    assert policy_max_reward(policy) == 2000


@pytest.mark.django_db
def test_a_policy_of_an_unknown_kind_is_refused(project):
    with pytest.raises(ApplicationError) as refused:
        policy_for(project, kind="vibes")
    assert refused.value.field == "kind"


# --- What labs and experts see --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lab_creates_an_information_policy_and_sees_its_maximum_and_expected_cost(
    lab_key, lab_client, django_capture_on_commit_callbacks
):
    from tests.factories import DomainFactory, ProjectFactory

    lab, _key, _raw = lab_key
    project = ProjectFactory(lab=lab, domain=DomainFactory(), gold_rate=0)
    url = f"/api/v1/projects/{project.pk}/reward-policies"
    body = {
        "base_rate": "10000",
        "level_multipliers_bp": {"1": 10_000, "2": 12_500, "3": 15_000, "4": 20_000},
        "kind": "information",
        "holdback_bp": 3000,
        "evidence_z_hundredths": 0,  # the labels below are paid on windows of one or two
    }
    created = lab_client.post(url, body, format="json")
    assert created.status_code == 201, created.json()
    shown = created.json()
    assert shown["kind"] == "information" and shown["holdback_bp"] == 3000
    assert shown["evidence_z_hundredths"] == 0
    too_strict = lab_client.post(url, {**body, "evidence_z_hundredths": 1001}, format="json")
    assert too_strict.status_code == 400 and "evidence_z_hundredths" in str(too_strict.json())
    assert shown["max_reward_per_label"] == "40000"  # 10000 x 2.0 x (1 + 1)
    assert shown["expected_cost_per_label"]["basis"] == "maximum: no label paid yet"
    refused = lab_client.post(url, {**body, "kind": "vibes"}, format="json")
    assert refused.status_code == 400 and "kind" in str(refused.json())

    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(2)]
    _crowd_item(
        project, ["B", "B"], experts=experts, consensus="B", capture=django_capture_on_commit_callbacks
    )
    _crowd_item(
        project, ["A", "A"], experts=experts, consensus="A", capture=django_capture_on_commit_callbacks
    )
    amounts = [int(t.amount) for t in LedgerTransaction.objects.filter(kind="reward")]
    cost = lab_client.get(url).json()[0]["expected_cost_per_label"]
    assert cost["expected_cost_per_label"] == str(sum(amounts) // len(amounts))
    budget = lab_client.get("/api/v1/lab/budget").json()["projects"][0]
    assert (
        budget["policy_kind"] == "information"
        and budget["expected_cost_per_label"] == cost["expected_cost_per_label"]
    )


@pytest.mark.django_db
def test_a_new_information_policy_gates_at_z_2_and_its_rewards_say_so(
    project, django_capture_on_commit_callbacks
):
    from rewards.services import reward_policy_create

    policy = reward_policy_create(
        project=project, base_rate=10_000, level_multipliers_bp=MULTIPLIERS, kind="information"
    )
    assert policy.evidence_z_hundredths == 200
    credit(project.lab, 10**9)
    experts = [expert_at(project.domain, 3) for _ in range(2)]
    _item, labels = _crowd_item(
        project, ["A", "A"], experts=experts, consensus="A", capture=django_capture_on_commit_callbacks
    )
    data = _reward(labels[0]).data
    # one label shows nothing yet: no term is paid, the whole (young) reward settles later
    assert data["evidence_z"] == "2" and data["right_window"]["shown"] is False
    assert data["peer_amount"] == data["right_amount"] == data["amount"] == 0


@pytest.mark.django_db
def test_the_expert_sees_each_term_and_the_held_share_with_its_reason(
    project, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    label = _rewarded(project, django_capture_on_commit_callbacks)
    client = APIClient()
    client.force_login(label.expert.user)
    earnings = client.get("/api/v1/me/earnings").json()
    assert int(earnings["held"]) == _reward(label).data["held"] > 0
    assert earnings["held_shares"][0]["reason"] == "settling period"
    line = next(
        line
        for line in client.get("/api/v1/me/earnings/statement").json()["results"]
        if line["label"] == str(label.pk)
    )
    for term in (
        "peer_amount",
        "right_amount",
        "level",
        "multiplier_bp",
        "held",
        "held_reason",
        "peer",
        "right_window",
    ):
        assert term in line["details"]
    page = client.get("/earnings/").content.decode()
    assert "peer term" in page and "held back" in page.lower() and "settling period" in page


@pytest.mark.django_db
def test_a_ranking_project_cannot_take_an_information_policy():
    from tests.factories import ProjectFactory

    project = ProjectFactory(ranking=True)
    with pytest.raises(ApplicationError) as refused:
        policy_for(project, kind="information")
    assert refused.value.code == "kind_needs_pairwise"


def test_a_right_window_that_shows_information_lifts_the_peer_terms_gate():
    """An expert whose peers are mostly weak or item-ignoring accounts has weak peer scores; when
    their right window shows information the record is not item-ignoring, and the peer term is
    paid at its clipped rate. Without it, the gate stands."""
    weak = [Fraction(1, 2), Fraction(-1, 2)] * 10 + [Fraction(1, 2)] * 2
    assert peer_average(weak, 5, Fraction(2)) == 0
    shown = {"shown": True, "g": "1/3"}
    assert peer_average(weak, 5, peer_gate(Fraction(2), shown)) == peer_average(weak, 5) > 0
    assert peer_gate(Fraction(2), {"shown": False, "g": "0"}) == 2
