"""An expert reinstated on appeal is paid for the work the suspension kept unpaid: labels it
excluded on items that became final meanwhile get their reward (or their clawback reversed),
once, in the decision's transaction; open items' labels count again; nothing is clawed back
later for them."""

from __future__ import annotations

import pytest

from annotate.models import Label, ProjectSuspension
from annotate.quality.suspension import project_suspend, suspension_decide
from rewards.ledger import ledger_balances
from rewards.models import LedgerTransaction
from rewards.selectors import lab_budget_balance, lab_spend, ledger_check
from rewards.services import clawbacks_reconcile, labels_pay_after_reinstatement, reward_reference
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ItemFactory, LabelFactory, StaffFactory
from tests.rewards.conftest import credit, expert_at, finalise, policy_for

pytestmark = pytest.mark.django_db


def _suspend(project, expert):
    return project_suspend(project=project, expert_id=expert.pk, reason="gold_accuracy", details={})


def test_labels_on_items_final_during_the_suspension_are_paid_on_reinstatement(
    project, django_capture_on_commit_callbacks
):
    credit(project.lab, 100_000)
    policy_for(project, base_rate=1000)
    expert, peer = expert_at(project.domain, 1), expert_at(project.domain, 1)
    still_open, finished = ItemFactory(batch__project=project), ItemFactory(batch__project=project)
    open_label = LabelFactory(item=still_open, expert=expert, choice="A", strength=2)
    late_label = LabelFactory(item=finished, expert=expert, choice="A", strength=2)
    peer_label = LabelFactory(item=finished, expert=peer, choice="A", strength=2)

    suspension = _suspend(project, expert)
    assert set(Label.objects.filter(excluded_by=suspension).values_list("pk", flat=True)) == {
        open_label.pk,
        late_label.pk,
    }
    finalise(finished, django_capture_on_commit_callbacks)
    # While suspended, the excluded label earns nothing; the peer's is paid.
    assert not LedgerTransaction.objects.filter(reference=reward_reference(late_label.pk)).exists()
    peer_reward = LedgerTransaction.objects.get(reference=reward_reference(peer_label.pk))
    budget_before = lab_budget_balance(lab_id=project.lab_id)

    suspension_decide(suspension=suspension, actor=StaffFactory(), decision="reinstate", note="Bad golds.")

    paid = LedgerTransaction.objects.get(reference=reward_reference(late_label.pk))
    assert paid.kind == "reward" and int(paid.amount) == int(peer_reward.amount) > 0
    balances = ledger_balances(expert_id=expert.pk)
    assert balances["payable"] == int(paid.amount)
    assert balances["pending"] > 0  # the open item's label, counted again, will be paid when final
    assert lab_budget_balance(lab_id=project.lab_id) == budget_before - int(paid.amount)
    # The open item's label counts again; the final one stays out of the delivered consensus.
    assert Label.objects.get(pk=open_label.pk).excluded_from_consensus is False
    assert Label.objects.get(pk=open_label.pk).excluded_by_id is None
    assert Label.objects.get(pk=late_label.pk).excluded_from_consensus is True
    assert AuditEvent.objects.get(action="quality.reinstate").data["paid_final_labels"] == 1
    # Nothing claws it back later, and paying again posts nothing new.
    assert clawbacks_reconcile() == 0
    assert labels_pay_after_reinstatement(label_ids=[late_label.pk]) == [paid]
    assert LedgerTransaction.objects.filter(label_id=late_label.pk).count() == 1
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


def test_a_clawback_taken_for_a_suspension_is_reversed_on_reinstatement(
    project, django_capture_on_commit_callbacks
):
    credit(project.lab, 100_000)
    policy_for(project, base_rate=1000)
    expert = expert_at(project.domain, 1)
    item = ItemFactory(batch__project=project)
    label = LabelFactory(item=item, expert=expert)
    LabelFactory(item=ItemFactory(batch__project=project), expert=expert)  # keeps the suspension busy
    finalise(item, django_capture_on_commit_callbacks)
    reward = LedgerTransaction.objects.get(reference=reward_reference(label.pk))
    suspension = _suspend(project, expert)
    # The item became final as the suspension was being taken: the label got excluded after
    # its reward, and the periodic reconciliation clawed it back.
    Label.objects.filter(pk=label.pk).update(excluded_from_consensus=True, excluded_by=suspension)
    assert clawbacks_reconcile() == 1
    assert ledger_balances(expert_id=expert.pk)["payable"] == 0
    spent_clawed = int(lab_spend(lab=project.lab)["projects"][0]["spent"])
    assert spent_clawed == 0

    staff = StaffFactory()
    suspension_decide(suspension=suspension, actor=staff, decision="reinstate")

    reversal = LedgerTransaction.objects.get(kind="clawback_reversal", label_id=label.pk)
    assert int(reversal.amount) == int(reward.amount) == 1000
    assert sorted(int(e.amount) for e in reversal.entries.all()) == [-1000, 1000]
    assert ledger_balances(expert_id=expert.pk)["payable"] == 1000
    assert int(lab_spend(lab=project.lab)["projects"][0]["spent"]) == 1000
    assert AuditEvent.objects.get(action="reward.clawback_reversal").actor == staff
    # Idempotent: a second pass reverses nothing more, the reconciliation claws nothing back.
    labels_pay_after_reinstatement(label_ids=[label.pk])
    assert clawbacks_reconcile() == 0
    assert LedgerTransaction.objects.filter(label_id=label.pk).count() == 3  # reward, clawback, reversal
    assert ledger_check() == {"entries_total": 0, "accounts_out_of_step": 0}


def test_an_upheld_suspension_pays_nothing(project, django_capture_on_commit_callbacks):
    from annotate.quality.suspension import suspension_appeal

    credit(project.lab, 100_000)
    policy_for(project, base_rate=1000)
    expert = expert_at(project.domain, 1)
    item = ItemFactory(batch__project=project)
    label = LabelFactory(item=item, expert=expert)
    suspension = _suspend(project, expert)
    finalise(item, django_capture_on_commit_callbacks)
    suspension_appeal(suspension=suspension, expert=expert, text="The golds were wrong, I am sure.")
    suspension = suspension_decide(suspension=suspension, actor=StaffFactory(), decision="uphold")
    assert suspension.appeal == ProjectSuspension.Appeal.UPHELD
    assert not LedgerTransaction.objects.filter(label_id=label.pk).exists()
    assert labels_pay_after_reinstatement(label_ids=[label.pk]) == []  # still excluded, not reinstated
