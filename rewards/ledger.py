"""Posting to the ledger, and the functions the payouts app moves money with.

Every posting is one database transaction that
1. returns at once when its ``reference`` is already posted with the same kind and legs
   (idempotency: a retried task or a re-delivered signal posts nothing twice), and refuses
   (:class:`ReferenceConflict`, ``reference_conflict``) when it was posted with another kind,
   amount or accounts;
2. locks the rows of the accounts it touches, always in ascending id order (no deadlock
   between two postings), then looks at the reference again: a concurrent posting of the
   same reference that won the lock is seen now (PostgreSQL READ COMMITTED re-reads per
   statement), so it is not posted twice;
3. checks that the legs sum to zero (the database checks it again at commit on PostgreSQL),
   writes the transaction and its entries, and moves each account's ``balance`` copy.

Amounts are Python ints in token base units; a float anywhere is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet, Sum

from rewards.models import LedgerAccount, LedgerEntry, LedgerTransaction
from rlhf_platform.core.exceptions import ApplicationError

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


class ReferenceConflict(ApplicationError):
    """A reference already posted with another kind or other legs (another amount, other
    accounts). A reference names one movement of money: the same reference with the same
    legs is a retry and returns the first posting; anything else is a bug or a forgery, and
    is refused rather than silently answered with the first posting."""

    def __init__(self, reference: str) -> None:
        super().__init__(
            f"Ledger reference {reference!r} was already posted with another kind, amount or accounts.",
            code="reference_conflict",
            status_code=409,
        )


# --- Sums ------------------------------------------------------------------------------------


def sum_amounts(queryset: QuerySet, field: str = "amount") -> int:
    """The exact sum of a token-amount column (in Python on SQLite: see rewards/fields.py)."""
    if connection.vendor == "sqlite":
        return sum(int(value) for value in queryset.values_list(field, flat=True))
    return int(queryset.aggregate(total=Sum(field))["total"] or 0)


def sums_by(queryset: QuerySet, key: str, field: str = "amount") -> dict[Any, int]:
    """Exact sums of a token-amount column grouped by ``key``."""
    if connection.vendor == "sqlite":
        totals: dict[Any, int] = {}
        for group, value in queryset.values_list(key, field):
            totals[group] = totals.get(group, 0) + int(value)
        return totals
    rows = queryset.order_by().values(key).annotate(total=Sum(field)).values_list(key, "total")
    return {group: int(total or 0) for group, total in rows}


def ledger_balance(*, account: LedgerAccount) -> int:
    """An account's balance: the sum of its entries."""
    return sum_amounts(LedgerEntry.objects.filter(account=account))


# --- Accounts --------------------------------------------------------------------------------


def ledger_account(*, kind: str, lab_id: Any = None, expert_id: Any = None) -> LedgerAccount:
    """The account of that kind and owner, created on first use (safe when two callers create
    it at the same moment: the loser of the unique key reads the winner's row)."""
    lookup = {"kind": kind, "lab_id": lab_id, "expert_id": expert_id}
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(**lookup)
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def treasury_account() -> LedgerAccount:
    return ledger_account(kind=Kind.TREASURY)


def lab_budget_account(*, lab_id: Any) -> LedgerAccount:
    return ledger_account(kind=Kind.LAB_BUDGET, lab_id=lab_id)


def expert_account(*, kind: str, expert_id: Any) -> LedgerAccount:
    return ledger_account(kind=kind, expert_id=expert_id)


# --- Posting ---------------------------------------------------------------------------------


def _whole(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Token amounts are Python ints, not {type(amount).__name__}.")
    return amount


def _legs(legs: Iterable[tuple[LedgerAccount, int]]) -> list[tuple[LedgerAccount, int]]:
    """The legs without zeros, refused unless they sum to zero."""
    legs = [(account, _whole(amount)) for account, amount in legs if _whole(amount) != 0]
    if sum(amount for _, amount in legs) != 0:
        raise ApplicationError("A ledger transaction's entries must sum to zero.", code="unbalanced")
    return legs


def _leg_key(legs: Iterable[tuple[Any, int]]) -> list[tuple[int, int]]:
    """Legs compared as a posting's identity: (account id, amount), in a fixed order."""
    return sorted((getattr(account, "pk", account), amount) for account, amount in legs)


def _same_posting(
    existing: LedgerTransaction, *, kind: str, legs: list[tuple[LedgerAccount, int]]
) -> LedgerTransaction:
    """``existing``, posted under the reference asked for, if it is this posting (a retry);
    :class:`ReferenceConflict` if it moved other money."""
    posted = LedgerEntry.objects.filter(transaction=existing).values_list("account_id", "amount")
    if existing.kind != kind or _leg_key(posted) != _leg_key(legs):
        raise ReferenceConflict(existing.reference)
    return existing


def _locked(account_ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """The accounts' rows under lock, taken in ascending id order (no deadlock)."""
    ids = sorted(set(account_ids))
    return {a.pk: a for a in LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def ledger_lock(accounts: Iterable[LedgerAccount]) -> None:
    """Lock the accounts' rows until the current transaction ends, in ascending id order. A
    caller that posts several times in one transaction (the rewards of many items,
    ``rewards.posting``) locks every account it may move first, once: its postings' own locks
    then wait for nothing, and the transaction as a whole still takes its locks in one
    ascending order (no deadlock with any other posting)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_lock holds its locks for a transaction: call it inside one.")
    _locked(account.pk for account in accounts)


def _transaction_row(
    *,
    kind: str,
    reference: str,
    legs: list[tuple[LedgerAccount, int]],
    memo: str = "",
    actor: Any = None,
    lab_id: Any = None,
    project_id: Any = None,
    expert_id: Any = None,
    label_id: Any = None,
    data: dict[str, Any] | None = None,
) -> LedgerTransaction:
    """The transaction row of a posting, not yet saved (its amount: what the legs move)."""
    return LedgerTransaction(
        kind=kind,
        reference=reference,
        memo=memo[:500],
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        lab_id=lab_id,
        project_id=project_id,
        expert_id=expert_id,
        label_id=label_id,
        amount=sum(amount for _, amount in legs if amount > 0),
        data=data or {},
    )


def _balances_move(locked: dict[int, LedgerAccount], legs: Iterable[tuple[LedgerAccount, int]]) -> None:
    moved: dict[int, int] = {}
    for account, amount in legs:
        moved[account.pk] = moved.get(account.pk, 0) + amount
    for account_id, delta in moved.items():
        row = locked[account_id]
        row.balance = int(row.balance) + delta
        # The row is locked: reading and writing the copy here cannot lose a concurrent update.
        LedgerAccount.objects.filter(pk=account_id).update(balance=row.balance)


def _experts_tell(legs: Iterable[tuple[LedgerAccount, int]]) -> None:
    """The experts whose accounts new legs moved see their new earnings after commit
    (``rewards.live``)."""
    from rewards.live import earnings_changed_on_commit  # it reads the sums of this module

    earnings_changed_on_commit(account.expert_id for account, _ in legs)


@transaction.atomic
def ledger_post(
    *,
    kind: str,
    reference: str,
    legs: Iterable[tuple[LedgerAccount, int]],
    memo: str = "",
    actor: Any = None,
    lab_id: Any = None,
    project_id: Any = None,
    expert_id: Any = None,
    label_id: Any = None,
    data: dict[str, Any] | None = None,
    check: Callable[[dict[int, LedgerAccount]], None] | None = None,
) -> tuple[LedgerTransaction, bool]:
    """Post one balanced transaction; ``(transaction, True)``, or the one already posted under
    ``reference`` with the same kind and legs and ``False`` (:class:`ReferenceConflict` when it
    was posted with others). ``check`` sees the locked accounts (by id) before anything is
    written and may refuse by raising. Legs of zero are dropped; no legs at all posts a
    transaction without entries (a reward of 0 whose reasons the statement still shows)."""
    legs = _legs(legs)
    existing = LedgerTransaction.objects.filter(reference=reference).first()
    if existing is not None:
        return _same_posting(existing, kind=kind, legs=legs), False
    locked = _locked(account.pk for account, _ in legs)
    existing = LedgerTransaction.objects.filter(reference=reference).first()
    if existing is not None:
        return _same_posting(existing, kind=kind, legs=legs), False
    if check is not None:
        check(locked)
    txn = _transaction_row(
        kind=kind,
        reference=reference,
        legs=legs,
        memo=memo,
        actor=actor,
        lab_id=lab_id,
        project_id=project_id,
        expert_id=expert_id,
        label_id=label_id,
        data=data,
    )
    try:
        with transaction.atomic():
            txn.save(force_insert=True)
    except IntegrityError:
        # The same reference posted by a concurrent caller that did not need our locks.
        return _same_posting(LedgerTransaction.objects.get(reference=reference), kind=kind, legs=legs), False
    LedgerEntry.objects.bulk_create(
        LedgerEntry(transaction=txn, account_id=account.pk, amount=amount) for account, amount in legs
    )
    _balances_move(locked, legs)
    _experts_tell(legs)
    return txn, True


@transaction.atomic
def ledger_post_many(postings: list[dict[str, Any]]) -> list[tuple[LedgerTransaction, bool]]:
    """:func:`ledger_post` for several postings at once (the keyword arguments of each, without
    ``check``), in one database transaction: their accounts locked once, each kind of row
    inserted in one statement, each account's balance moved once. The same rows as posting
    them one by one; a reference already posted is returned, not posted again, and one posted
    (or given twice here) with other legs is refused before anything is written. Used where a
    worker posts many small transactions (the rewards of a final item's labels)."""
    postings = [{**posting, "legs": _legs(posting["legs"])} for posting in postings]
    locked = _locked(account.pk for posting in postings for account, _ in posting["legs"])
    posted = {
        txn.reference: txn
        for txn in LedgerTransaction.objects.filter(reference__in=[p["reference"] for p in postings])
    }
    for posting in postings:
        if posting["reference"] in posted:
            _same_posting(posted[posting["reference"]], kind=posting["kind"], legs=posting["legs"])
    new: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    for posting in postings:
        reference = posting["reference"]
        if reference in first:
            # One reference twice in one call: the same posting, or a conflict.
            earlier = first[reference]
            if earlier["kind"] != posting["kind"] or _leg_key(earlier["legs"]) != _leg_key(posting["legs"]):
                raise ReferenceConflict(reference)
            continue
        first[reference] = posting
        if reference not in posted:
            new.append(posting)
    try:
        with transaction.atomic():
            created = LedgerTransaction.objects.bulk_create(_transaction_row(**posting) for posting in new)
    except IntegrityError:
        # A concurrent caller posted one of these references: one by one, each returns it.
        return [ledger_post(**posting) for posting in postings]
    LedgerEntry.objects.bulk_create(
        LedgerEntry(transaction=txn, account_id=account.pk, amount=amount)
        for txn, posting in zip(created, new, strict=True)
        for account, amount in posting["legs"]
    )
    _balances_move(locked, (leg for posting in new for leg in posting["legs"]))
    _experts_tell(leg for posting in new for leg in posting["legs"])
    fresh = {txn.reference: txn for txn in created}
    return [
        (fresh[p["reference"]], True) if p["reference"] in fresh else (posted[p["reference"]], False)
        for p in postings
    ]


# --- Payouts (called by rewards.payouts) -----------------------------------------------------


def _payout_reference(reference: str, step: str) -> str:
    return f"payout:{reference}:{step}"


def ledger_payable_balances(*, min_amount: int = 0) -> dict[Any, int]:
    """Every expert whose payable balance is positive and at least ``min_amount``:
    ``{expert_profile_id (UUID): base units}``."""
    floor = max(int(min_amount), 1)
    totals = sums_by(
        LedgerEntry.objects.filter(account__kind=Kind.ANNOTATOR), "account__expert_id", field="amount"
    )
    return {expert_id: total for expert_id, total in totals.items() if total >= floor}


def ledger_payout_reserve(*, expert_id: Any, amount: int, reference: str) -> None:
    """Move ``amount`` of the expert's payable balance to in flight, once per ``reference``.
    Refuses (``insufficient_balance``) when the payable balance is smaller."""
    amount = _whole(amount)
    if amount <= 0:
        raise ApplicationError("A payout amount must be positive.", code="invalid_amount")
    payable = expert_account(kind=Kind.ANNOTATOR, expert_id=expert_id)
    in_flight = expert_account(kind=Kind.IN_FLIGHT, expert_id=expert_id)
    ref = _payout_reference(reference, "reserve")

    def enough(locked: dict[int, LedgerAccount]) -> None:
        balance = int(locked[payable.pk].balance)
        if balance < amount:
            raise ApplicationError(
                f"Payable balance {balance} is less than {amount}.", code="insufficient_balance"
            )

    txn, _ = ledger_post(
        kind=TxnKind.PAYOUT_RESERVE,
        reference=ref,
        legs=[(payable, -amount), (in_flight, amount)],
        expert_id=expert_id,
        memo=f"payout {reference}",
        data={"payout_reference": reference},
        check=enough,
    )
    if str(txn.expert_id) != str(expert_id) or int(txn.amount) != amount:
        raise ApplicationError(
            f"Payout reference {reference!r} was already reserved for another expert or amount.",
            code="reference_conflict",
        )


def _payout_close(*, reference: str, step: str, to_kind: str) -> None:
    reserve = LedgerTransaction.objects.filter(reference=_payout_reference(reference, "reserve")).first()
    if reserve is None:
        raise ApplicationError(f"No payout reserved under {reference!r}.", code="not_found", status_code=404)
    other = "return" if step == "settle" else "settle"
    expert_id, amount = reserve.expert_id, int(reserve.amount)
    in_flight = expert_account(kind=Kind.IN_FLIGHT, expert_id=expert_id)
    target = expert_account(kind=to_kind, expert_id=expert_id)

    def not_closed_otherwise(locked: dict[int, LedgerAccount]) -> None:
        # Settle and return of one reservation both lock the expert's in-flight account, so
        # they are serialised and this look sees the other if it was posted.
        if LedgerTransaction.objects.filter(reference=_payout_reference(reference, other)).exists():
            raise ApplicationError(
                f"Payout {reference!r} was already {'returned' if other == 'return' else 'settled'}.",
                code="payout_already_closed",
                status_code=409,
            )

    ledger_post(
        kind=TxnKind.PAYOUT_SETTLE if step == "settle" else TxnKind.PAYOUT_RETURN,
        reference=_payout_reference(reference, step),
        legs=[(in_flight, -amount), (target, amount)],
        expert_id=expert_id,
        memo=f"payout {reference}",
        data={"payout_reference": reference},
        check=not_closed_otherwise,
    )


def ledger_payout_settle(*, reference: str) -> None:
    """The reserved payout is confirmed on-chain: in flight -> paid out. Idempotent."""
    _payout_close(reference=reference, step="settle", to_kind=Kind.PAID_OUT)


def ledger_payout_return(*, reference: str) -> None:
    """The reserved payout failed (reverted or abandoned): in flight -> payable. Idempotent."""
    _payout_close(reference=reference, step="return", to_kind=Kind.ANNOTATOR)


def ledger_payout_lost(*, reference: str, memo: str = "") -> None:
    """A settled payout whose transaction the chain no longer holds (the chain was reset, see
    ``rewards.payouts.chain_identity``): paid out -> payable, so that a later run pays it
    again. Once per reference; refused for a payout that was never settled."""
    settle = LedgerTransaction.objects.filter(reference=_payout_reference(reference, "settle")).first()
    if settle is None:
        raise ApplicationError(f"No payout settled under {reference!r}.", code="not_found", status_code=404)
    expert_id, amount = settle.expert_id, int(settle.amount)
    ledger_post(
        kind=TxnKind.PAYOUT_LOST,
        reference=_payout_reference(reference, "lost"),
        legs=[
            (expert_account(kind=Kind.PAID_OUT, expert_id=expert_id), -amount),
            (expert_account(kind=Kind.ANNOTATOR, expert_id=expert_id), amount),
        ],
        expert_id=expert_id,
        memo=memo or f"payout {reference} lost with its chain",
        data={"payout_reference": reference},
    )


def ledger_balances(*, expert_id: Any) -> dict[str, int]:
    """An expert's earnings: ``pending`` (the most their submitted labels on items not yet
    final can earn under the policies in force), ``held`` (shares of rewards held back until
    they settle, rewards.holdbacks), ``payable``, ``in_flight`` and ``paid``."""
    from rewards.policy import pending_estimate  # policy imports this module

    totals = sums_by(LedgerEntry.objects.filter(account__expert_id=expert_id), "account__kind")
    return {
        "pending": pending_estimate(expert_id=expert_id),
        "held": totals.get(Kind.HELD, 0),
        "payable": totals.get(Kind.ANNOTATOR, 0),
        "in_flight": totals.get(Kind.IN_FLIGHT, 0),
        "paid": totals.get(Kind.PAID_OUT, 0),
    }
