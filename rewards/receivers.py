"""Where rewards listens to annotate: ``annotate.signals.item_finalized``,
``suspension_reinstated`` and ``group_cleared``."""

from __future__ import annotations

from typing import Any

from django.db import transaction


class _DueMark:
    """The on-commit callback that marks the items finalised in one transaction due, together."""

    def __init__(self, item_id: Any) -> None:
        self.item_ids = [item_id]
        self.called = False

    def __call__(self) -> None:
        from rewards.tasks import rewards_due

        self.called = True
        rewards_due(self.item_ids)


def on_item_finalized(sender: Any, *, item_id: int, project_id: Any = None, **kwargs: Any) -> None:
    """Mark the item's rewards due and nudge the rewards drain, once the current transaction
    (if any) commits: the items a quality drain finalised are posted together, by one drain
    task (``rewards.drain``). The signal is sent after annotate's transaction commits, the
    items of one transaction inside one of their own (annotate/finalize.py): their marks are
    one insert and one nudge. Robust: a broker that is down does not fail the finalisation (the
    error is logged; the sweep marks the item)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for _savepoints, callback, _robust in connection.run_on_commit:
            if isinstance(callback, _DueMark) and not callback.called:
                callback.item_ids.append(item_id)
                return
    transaction.on_commit(_DueMark(item_id), robust=True)


def on_suspension_reinstated(sender: Any, *, label_ids: list[Any], actor: Any = None, **kwargs: Any) -> None:
    """Pay, in the decision's transaction, for the labels the overturned suspension kept
    unpaid (see ``rewards.services.labels_pay_after_reinstatement``)."""
    from rewards.services import labels_pay_after_reinstatement

    labels_pay_after_reinstatement(label_ids=label_ids, actor=actor)


def on_group_cleared(sender: Any, *, item_ids: list[Any], actor: Any = None, **kwargs: Any) -> None:
    """Post, in the decision's transaction, the rewards held while the group was suspected:
    every missing reward of the final items its members labelled (idempotent per label)."""
    from rewards.posting import rewards_post

    if item_ids:
        rewards_post(item_ids=list(item_ids))
