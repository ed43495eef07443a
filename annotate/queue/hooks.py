"""What the queue tells the rest of the platform: the ``label_submitted`` hook.

The engine sends ``label_submitted`` once per stored label, after the transaction that stored
it commits (a retry that returns the first label sends nothing). Its arguments: ``label_id``,
``assignment_id``, ``item_id``, ``project_id``, ``expert_id`` and ``is_gold``; receivers re-read
what they need. The quality step registers itself here (``annotate.apps``), so the queue never
imports the quality app. A receiver that fails is logged and does not stop the others: the
label is stored either way (the quality step's periodic sweep takes what a lost nudge missed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.dispatch import Signal

from annotate.models import Label

logger = logging.getLogger(__name__)

label_submitted = Signal()


def label_submitted_send(label: Label) -> None:
    """Send ``label_submitted`` for ``label``, now (its transaction has committed)."""
    results = label_submitted.send_robust(
        sender=Label,
        label_id=label.pk,
        assignment_id=label.assignment_id,
        item_id=label.item_id,
        project_id=label.project_id,
        expert_id=label.expert_id,
        is_gold=label.is_gold,
    )
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("label_submitted receiver %r failed", receiver, exc_info=result)


def labels_submitted_send(labels: Iterable[Label]) -> None:
    """``label_submitted`` for each of ``labels``, in order (the fast path's burst)."""
    for label in labels:
        label_submitted_send(label)


def label_submitted_on_commit(label: Label) -> None:
    """Send ``label_submitted`` for ``label`` once the current transaction commits (at once in
    autocommit)."""
    transaction.on_commit(partial(label_submitted_send, label), robust=True)
