"""Budget credits with four eyes: an admin credits a lab's budget (treasury -> lab budget).

A credit that, with the lab's other single-admin credits of the last 24 hours, stays within
``BUDGET_CREDIT_APPROVAL_THRESHOLD`` posts at once. A larger one is recorded as
``pending_approval`` and moves nothing until a second admin approves it; any admin may reject
it. The 24-hour sum keeps a large credit from being split into small ones. Every step is
audited (``budget.credit_request``, ``budget.credit_approve``, ``budget.credit_reject``,
``budget.credit``), and the ledger transaction names who asked and who approved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.ledger import lab_budget_account, ledger_post, sum_amounts, treasury_account
from rewards.models import BudgetCredit, LedgerTransaction
from rewards.services import token_amount_clean
from rlhf_platform.accounts.models import Lab
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse, same_person

# Single-admin credits to one lab within this window count together against the threshold.
UNATTENDED_WINDOW = dt.timedelta(hours=24)


def _unattended_recently(*, lab: Lab, now: dt.datetime) -> int:
    rows = BudgetCredit.objects.filter(
        lab=lab,
        status=BudgetCredit.Status.POSTED,
        approved_by__isnull=True,
        requested_at__gte=now - UNATTENDED_WINDOW,
    )
    return sum_amounts(rows)


def _post(*, credit: BudgetCredit, actor: Any) -> BudgetCredit:
    key = credit.idempotency_key or str(credit.pk)
    txn, created = ledger_post(
        kind=LedgerTransaction.Kind.BUDGET_CREDIT,
        reference=f"credit:{credit.lab_id}:{key}",
        legs=[
            (treasury_account(), -credit.amount),
            (lab_budget_account(lab_id=credit.lab_id), credit.amount),
        ],
        memo=credit.memo,
        actor=actor,
        lab_id=credit.lab_id,
        data={
            "credit": str(credit.pk),
            "requested_by": str(credit.requested_by_id) if credit.requested_by_id else None,
            "approved_by": str(credit.approved_by_id) if credit.approved_by_id else None,
        },
    )
    if not created:
        # A credit posted before credits were recorded took this key.
        raise ApplicationError(
            "This idempotency key was used for another credit.", code="reference_conflict", status_code=409
        )
    credit.transaction = txn
    credit.status = BudgetCredit.Status.POSTED
    credit.save(update_fields=["transaction", "status", "approved_by", "decided_by", "decided_at"])
    audit_record(
        action="budget.credit",
        target=credit.lab,
        actor=actor,
        data={
            "amount": str(credit.amount),
            "transaction": str(txn.uid),
            "memo": credit.memo,
            "credit": str(credit.pk),
            "approved_by": str(credit.approved_by_id) if credit.approved_by_id else None,
        },
    )
    return credit


@transaction.atomic
def budget_credit(
    *, lab: Lab, amount: int | str, actor: Any, memo: str = "", idempotency_key: str = ""
) -> tuple[BudgetCredit, bool]:
    """An admin credits a lab's budget: posted now within the threshold, otherwise waiting for a
    second admin. With an ``idempotency_key`` a retried request returns the first credit
    (``created`` False)."""
    action_require(actor, Action.BUDGET_CREDIT)
    amount = token_amount_clean(amount, "amount")
    if amount == 0:
        raise ApplicationError("amount must be positive.", field="amount")
    # The lab's row lock orders concurrent credits, so that the 24-hour sum is exact.
    lab = Lab.objects.select_for_update().get(pk=lab.pk)
    if idempotency_key:
        existing = BudgetCredit.objects.filter(lab=lab, idempotency_key=idempotency_key).first()
        if existing is not None:
            if int(existing.amount) != amount:
                raise ApplicationError(
                    "This idempotency key was used for another amount.",
                    code="reference_conflict",
                    status_code=409,
                )
            return existing, False
    now = timezone.now()
    needs_approval = (
        _unattended_recently(lab=lab, now=now) + amount > settings.BUDGET_CREDIT_APPROVAL_THRESHOLD
    )
    try:
        with transaction.atomic():
            credit = BudgetCredit.objects.create(
                lab=lab,
                amount=amount,
                memo=memo,
                idempotency_key=idempotency_key,
                status=BudgetCredit.Status.PENDING_APPROVAL,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                requested_at=now,
            )
    except IntegrityError as exc:  # the same key at the same moment
        raise ApplicationError(
            "This idempotency key is being used right now.", code="reference_conflict", status_code=409
        ) from exc
    if not needs_approval:
        return _post(credit=credit, actor=actor), True
    audit_record(
        action="budget.credit_request",
        target=credit,
        actor=actor,
        data={"lab": str(lab.pk), "amount": str(amount), "memo": memo},
    )
    notify_on_commit(
        STAFF_GROUP, {"type": "budget.credit_pending", "credit": str(credit.pk), "lab": str(lab.pk)}
    )
    return credit, True


def _pending(credit: BudgetCredit) -> BudgetCredit:
    credit = BudgetCredit.objects.select_for_update().select_related("lab").get(pk=credit.pk)
    if credit.status != BudgetCredit.Status.PENDING_APPROVAL:
        raise ApplicationError(
            f"This credit is {credit.get_status_display()}, not waiting for approval.",
            code="not_pending",
            status_code=409,
        )
    return credit


@transaction.atomic
def budget_credit_approve(*, credit: BudgetCredit, actor: Any) -> BudgetCredit:
    """A second admin approves a pending credit: it is posted now."""
    action_require(actor, Action.BUDGET_CREDIT_APPROVE)
    credit = _pending(credit)
    if same_person(actor, credit.requested_by_id):
        four_eyes_refuse(
            rule=FourEyesRule.SAME_PERSON,
            actor=actor,
            target=credit,
            message="You asked for this credit: another admin must approve it.",
        )
    credit.approved_by = credit.decided_by = actor
    credit.decided_at = timezone.now()
    audit_record(
        action="budget.credit_approve",
        target=credit,
        actor=actor,
        data={
            "lab": str(credit.lab_id),
            "amount": str(credit.amount),
            "requested_by": str(credit.requested_by_id),
        },
    )
    return _post(credit=credit, actor=actor)


@transaction.atomic
def budget_credit_reject(*, credit: BudgetCredit, actor: Any, reason: str) -> BudgetCredit:
    """An admin (the one who asked included: a withdrawal) rejects a pending credit."""
    action_require(actor, Action.BUDGET_CREDIT_APPROVE)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the credit is rejected.", code="required", field="reason")
    credit = _pending(credit)
    credit.status = BudgetCredit.Status.REJECTED
    credit.decided_by, credit.decided_at, credit.decision_note = actor, timezone.now(), reason[:500]
    credit.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(
        action="budget.credit_reject",
        target=credit,
        actor=actor,
        data={"lab": str(credit.lab_id), "amount": str(credit.amount), "reason": reason[:500]},
    )
    return credit
