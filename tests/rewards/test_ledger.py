"""The ledger: balanced, append-only, exact, and the payout moves idempotent and safe under
concurrency."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from rewards.ledger import (
    ReferenceConflict,
    expert_account,
    lab_budget_account,
    ledger_balance,
    ledger_balances,
    ledger_payable_balances,
    ledger_payout_reserve,
    ledger_payout_return,
    ledger_payout_settle,
    ledger_post,
    ledger_post_many,
    treasury_account,
)
from rewards.models import AppendOnlyError, LedgerAccount, LedgerEntry, LedgerTransaction
from rlhf_platform.core.exceptions import ApplicationError
from tests.factories import ExpertProfileFactory, LabFactory
from tests.threads import run_together

TOKEN = 10**18
Kind = LedgerAccount.Kind


def _earn(expert, amount: int, reference: str | None = None) -> None:
    """Give an expert a payable balance the way a reward does: lab budget -> annotator."""
    lab = LabFactory()
    budget = lab_budget_account(lab_id=lab.pk)
    ledger_post(
        kind="budget_credit",
        reference=f"credit-{lab.pk}",
        legs=[(treasury_account(), -amount), (budget, amount)],
    )
    ledger_post(
        kind="reward",
        reference=reference or f"reward-{lab.pk}",
        legs=[(budget, -amount), (expert_account(kind=Kind.ANNOTATOR, expert_id=expert.pk), amount)],
        expert_id=expert.pk,
    )


def _all_balances_sum_to_zero() -> bool:
    return sum(ledger_balance(account=a) for a in LedgerAccount.objects.all()) == 0


@pytest.mark.django_db
def test_amounts_beyond_64_bits_are_exact():
    expert = ExpertProfileFactory()
    amount = 123_456_789 * TOKEN + 1  # about 1.2e26: no float, no int64 could hold it
    _earn(expert, amount)
    payable = expert_account(kind=Kind.ANNOTATOR, expert_id=expert.pk)
    assert ledger_balance(account=payable) == amount
    assert LedgerAccount.objects.get(pk=payable.pk).balance == amount
    assert ledger_balances(expert_id=expert.pk)["payable"] == amount
    assert _all_balances_sum_to_zero()


@pytest.mark.django_db
def test_an_unbalanced_posting_is_refused_by_the_code():
    with pytest.raises(ApplicationError) as refused:
        ledger_post(
            kind="budget_credit", reference="x", legs=[(treasury_account(), -5), (treasury_account(), 4)]
        )
    assert refused.value.code == "unbalanced"
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_float_amount_is_refused():
    lab = LabFactory()
    with pytest.raises(TypeError):
        ledger_post(
            kind="budget_credit",
            reference="f",
            legs=[(treasury_account(), -1.5), (lab_budget_account(lab_id=lab.pk), 1.5)],
        )


@pytest.mark.django_db
def test_entries_and_transactions_cannot_be_changed_through_the_orm():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    entry = LedgerEntry.objects.first()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=5)
    with pytest.raises(AppendOnlyError):
        entry.delete()
    entry.amount = 7
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        LedgerTransaction.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE rewards_ledgerentry SET amount = amount + 1",
        "DELETE FROM rewards_ledgerentry",
        "UPDATE rewards_ledgertransaction SET memo = 'changed'",
        "DELETE FROM rewards_ledgertransaction",
        "DELETE FROM rewards_ledgeraccount",
    ],
)
def test_postgresql_refuses_to_change_the_ledger(sql):
    _earn(ExpertProfileFactory(), 100)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_an_unbalanced_transaction_at_commit():
    lab = LabFactory()
    budget = lab_budget_account(lab_id=lab.pk)
    txn, _ = ledger_post(kind="budget_credit", reference="c", legs=[(treasury_account(), -10), (budget, 10)])
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "INSERT INTO rewards_ledgerentry (transaction_id, account_id, amount) VALUES (%s, %s, 3)",
                [txn.pk, budget.pk],
            )
    assert ledger_balance(account=budget) == 10


@pytest.mark.django_db
def test_posting_a_reference_twice_posts_once():
    lab = LabFactory()
    budget = lab_budget_account(lab_id=lab.pk)
    first, created = ledger_post(
        kind="budget_credit", reference="r1", legs=[(treasury_account(), -10), (budget, 10)]
    )
    again, created_again = ledger_post(
        kind="budget_credit", reference="r1", legs=[(treasury_account(), -10), (budget, 10)]
    )
    assert created and not created_again and first.pk == again.pk
    assert ledger_balance(account=budget) == 10


@pytest.mark.django_db
def test_posting_many_at_once_writes_what_posting_them_one_by_one_writes():
    lab = LabFactory()
    budget = lab_budget_account(lab_id=lab.pk)
    ledger_post(kind="budget_credit", reference="credit", legs=[(treasury_account(), -1000), (budget, 1000)])
    experts = [ExpertProfileFactory() for _ in range(3)]
    payables = [expert_account(kind=Kind.ANNOTATOR, expert_id=expert.pk) for expert in experts]
    postings = [
        {
            "kind": "reward",
            "reference": f"many-{n}",
            "legs": [(budget, -(n + 1) * 10), (payables[n % 3], (n + 1) * 10)],
            "expert_id": experts[n % 3].pk,
            "data": {"n": n},
        }
        for n in range(5)
    ]
    postings.append({"kind": "reward", "reference": "many-zero", "legs": [(budget, 0), (payables[0], 0)]})
    first, _ = ledger_post(**postings[0])  # posted before: returned, not posted again

    results = ledger_post_many(postings)

    assert [created for _, created in results] == [False, True, True, True, True, True]
    assert results[0][0].pk == first.pk
    assert [txn.reference for txn, _ in results] == [posting["reference"] for posting in postings]
    for txn, _ in results[:5]:
        entries = list(LedgerEntry.objects.filter(transaction=txn).values_list("amount", flat=True))
        assert sorted(entries) == [-txn.amount, txn.amount]
    assert results[3][0].data == {"n": 3} and results[3][0].amount == 40
    assert not LedgerEntry.objects.filter(transaction=results[5][0]).exists()  # a reward of 0
    expected = {0: 10 + 40, 1: 20 + 50, 2: 30}
    for n, payable in enumerate(payables):
        assert ledger_balance(account=payable) == expected[n]
        assert LedgerAccount.objects.get(pk=payable.pk).balance == expected[n]
    assert ledger_balance(account=budget) == LedgerAccount.objects.get(pk=budget.pk).balance == 1000 - 150
    rows = LedgerTransaction.objects.count()
    assert [created for _, created in ledger_post_many(postings)] == [False] * 6
    assert LedgerTransaction.objects.count() == rows
    assert _all_balances_sum_to_zero()


@pytest.mark.django_db
def test_reserve_settle_moves_payable_to_paid_once():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    ledger_payout_reserve(expert_id=expert.pk, amount=60, reference="run1-tx1")
    ledger_payout_reserve(expert_id=expert.pk, amount=60, reference="run1-tx1")  # a retry
    assert ledger_balances(expert_id=expert.pk) == {
        "pending": 0,
        "held": 0,
        "payable": 40,
        "in_flight": 60,
        "paid": 0,
    }
    ledger_payout_settle(reference="run1-tx1")
    ledger_payout_settle(reference="run1-tx1")
    assert ledger_balances(expert_id=expert.pk) == {
        "pending": 0,
        "held": 0,
        "payable": 40,
        "in_flight": 0,
        "paid": 60,
    }
    with pytest.raises(ApplicationError) as refused:
        ledger_payout_return(reference="run1-tx1")
    assert refused.value.code == "payout_already_closed"
    assert _all_balances_sum_to_zero()


@pytest.mark.django_db
def test_a_returned_payout_is_payable_again_and_cannot_then_settle():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    ledger_payout_reserve(expert_id=expert.pk, amount=100, reference="p")
    assert ledger_payable_balances() == {}
    ledger_payout_return(reference="p")
    ledger_payout_return(reference="p")
    assert ledger_balances(expert_id=expert.pk)["payable"] == 100
    assert ledger_payable_balances() == {expert.pk: 100}
    with pytest.raises(ApplicationError) as refused:
        ledger_payout_settle(reference="p")
    assert refused.value.code == "payout_already_closed"


@pytest.mark.django_db
def test_reserving_more_than_payable_is_refused():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    with pytest.raises(ApplicationError) as refused:
        ledger_payout_reserve(expert_id=expert.pk, amount=101, reference="too-much")
    assert refused.value.code == "insufficient_balance"
    assert ledger_balances(expert_id=expert.pk)["payable"] == 100


@pytest.mark.django_db
def test_a_reference_reused_for_another_amount_is_a_conflict():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    ledger_payout_reserve(expert_id=expert.pk, amount=10, reference="same")
    with pytest.raises(ApplicationError) as refused:
        ledger_payout_reserve(expert_id=expert.pk, amount=20, reference="same")
    assert refused.value.code == "reference_conflict"


@pytest.mark.django_db
def test_settling_an_unknown_reference_is_not_found():
    with pytest.raises(ApplicationError) as refused:
        ledger_payout_settle(reference="nope")
    assert refused.value.code == "not_found"


@pytest.mark.django_db
def test_payable_balances_respect_the_minimum():
    rich, poor = ExpertProfileFactory(), ExpertProfileFactory()
    _earn(rich, 5 * TOKEN)
    _earn(poor, TOKEN // 2)
    assert ledger_payable_balances(min_amount=TOKEN) == {rich.pk: 5 * TOKEN}
    assert ledger_payable_balances() == {rich.pk: 5 * TOKEN, poor.pk: TOKEN // 2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reserves_never_overdraw_a_payable_balance():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    calls = [
        (lambda i=i: ledger_payout_reserve(expert_id=expert.pk, amount=30, reference=f"c{i}"))
        for i in range(6)
    ]

    def attempt(call):
        try:
            call()
            return "reserved"
        except ApplicationError as exc:
            return exc.code

    results = run_together([lambda c=c: attempt(c) for c in calls], what="a reserve")
    assert sorted(results) == ["insufficient_balance"] * 3 + ["reserved"] * 3
    balances = ledger_balances(expert_id=expert.pk)
    assert balances["payable"] == 10 and balances["in_flight"] == 90
    payable = expert_account(kind=Kind.ANNOTATOR, expert_id=expert.pk)
    assert LedgerAccount.objects.get(pk=payable.pk).balance == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_reserve_settle_and_return_post_once():
    expert = ExpertProfileFactory()
    _earn(expert, 100)
    run_together(
        [lambda: ledger_payout_reserve(expert_id=expert.pk, amount=70, reference="same")] * 4,
        what="a reserve",
    )
    assert LedgerTransaction.objects.filter(kind="payout_reserve").count() == 1

    def close(step):
        try:
            (ledger_payout_settle if step == "settle" else ledger_payout_return)(reference="same")
            return step
        except ApplicationError as exc:
            return exc.code

    results = run_together(
        [lambda s=s: close(s) for s in ["settle", "return"] * 3], what="a settle or return"
    )
    closed = LedgerTransaction.objects.filter(kind__in=["payout_settle", "payout_return"])
    assert closed.count() == 1
    winner = closed.get().kind.removeprefix("payout_")
    assert results.count("payout_already_closed") == 3
    assert results.count(winner) == 3
    balances = ledger_balances(expert_id=expert.pk)
    assert balances["in_flight"] == 0
    assert balances["payable"] + balances["paid"] == 100
    assert _all_balances_sum_to_zero()


def _credit_legs(budget, amount: int) -> list:
    return [(treasury_account(), -amount), (budget, amount)]


@pytest.mark.django_db
def test_a_reference_posted_again_with_its_legs_in_another_order_returns_the_first_posting():
    budget = lab_budget_account(lab_id=LabFactory().pk)
    first, _ = ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 10))
    again, created = ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 10)[::-1])
    assert not created and again.pk == first.pk


@pytest.mark.django_db
def test_a_reference_posted_again_with_another_amount_is_refused():
    budget = lab_budget_account(lab_id=LabFactory().pk)
    ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 10))
    with pytest.raises(ReferenceConflict) as refused:
        ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 11))
    assert refused.value.code == "reference_conflict" and refused.value.status_code == 409
    assert ledger_balance(account=budget) == 10


@pytest.mark.django_db
def test_a_reference_posted_again_to_other_accounts_or_as_another_kind_is_refused():
    budget = lab_budget_account(lab_id=LabFactory().pk)
    other = lab_budget_account(lab_id=LabFactory().pk)
    ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 10))
    with pytest.raises(ReferenceConflict):
        ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(other, 10))
    with pytest.raises(ReferenceConflict):
        ledger_post(kind="reward", reference="r1", legs=_credit_legs(budget, 10))
    assert ledger_balance(account=other) == 0


@pytest.mark.django_db
def test_posting_many_refuses_a_reference_already_posted_with_other_legs_and_posts_nothing():
    budget = lab_budget_account(lab_id=LabFactory().pk)
    ledger_post(kind="budget_credit", reference="r1", legs=_credit_legs(budget, 10))
    postings = [
        {"kind": "budget_credit", "reference": "r2", "legs": _credit_legs(budget, 5)},
        {"kind": "budget_credit", "reference": "r1", "legs": _credit_legs(budget, 99)},
    ]
    with pytest.raises(ReferenceConflict):
        ledger_post_many(postings)
    assert not LedgerTransaction.objects.filter(reference="r2").exists()
    assert ledger_balance(account=budget) == 10
    # The same legs again: the first posting, and the new one posted.
    postings[1]["legs"] = _credit_legs(budget, 10)
    assert [created for _, created in ledger_post_many(postings)] == [True, False]


@pytest.mark.django_db
def test_posting_many_refuses_one_reference_twice_with_different_legs():
    budget = lab_budget_account(lab_id=LabFactory().pk)
    postings = [
        {"kind": "budget_credit", "reference": "r1", "legs": _credit_legs(budget, 5)},
        {"kind": "budget_credit", "reference": "r1", "legs": _credit_legs(budget, 6)},
    ]
    with pytest.raises(ReferenceConflict):
        ledger_post_many(postings)
    assert not LedgerTransaction.objects.filter(reference="r1").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_of_one_reference_with_different_amounts_post_one_and_refuse_the_other():
    budget = lab_budget_account(lab_id=LabFactory().pk)

    def post(amount: int):
        try:
            return ledger_post(kind="budget_credit", reference="race", legs=_credit_legs(budget, amount))[1]
        except ReferenceConflict:
            return "refused"

    results = run_together([lambda: post(10), lambda: post(20)], what="a posting")
    assert sorted(map(str, results)) == ["True", "refused"]
    assert ledger_balance(account=budget) in (10, 20)
