"""Correcting one's own label (undo): :func:`label_revise`.

An expert may change a label they gave while it is still open:

- only their own (anyone else's: 404, as if it did not exist);
- not while suspended from the project (403 ``suspended``);
- at most ``MAX_REVISIONS`` times (409 ``revision_limit``): a correction is for a wrong key or
  a second thought, which one or two cover; the bound keeps a label from being flipped to and
  fro, each flip re-running its item's consensus, and keeps the history short;
- only while it is *open* (409 ``label_closed``, one code and one message for every reason, so
  that the refusal tells nothing about the item): its item is not final, in adjudication or
  cancelled; the day (UTC) it was given has not ended; it is not excluded from consensus and
  no suspension came after it; no reward was posted for it; and, for a gold label, its item was
  not retired from the gold pool while the project shows gold answers.

Why the day: an expert's gold accuracy counts the golds answered *before today*, and the gold
review shows a retired item's answer. A label changed after its day could move an accuracy
already shown (telling which item was gold, and whether each answer passed), and a label
changed after its gold item retired could be fitted to the answer the review shows. Why "not
final": the expert sees the consensus of their final items (``/me/labels/``); a label that
could still change would let them copy it. A gold label is never "final" (its item is gold, or
a silver item served as gold after it became final), so finality closes ordinary labels only:
a gold label stays open exactly as long as the day rule allows.

What a correction does, in one transaction, under the item's row lock and then the label's
(``NOWAIT``: the after-submit step of a batch locks labels before items, so waiting could
deadlock; a label that step holds answers 409 ``label_busy``, try again):

1. the value is validated against the project's schema in the letters the expert saw, as a
   submit is (400 naming the field); an unchanged value is refused (400 ``unchanged``);
2. the value it replaces is appended to :class:`~annotate.models.LabelRevision` and the label
   holds the new one (``schema_version`` the project's current one);
3. when the after-submit quality step has already taken the label into account, the
   annotator's row follows the new value: the position counters (shown-first choices), and for
   a gold label its grade on the new value (``gold_passed``, the passed/failed counts, the last
   pass and the suspension test replayed from the stored evidence). The gold rules (warn,
   suspend) are *not* run here: they judge at the annotator's next evidence, so that the
   standing shown on ``/me/quality/`` never moves right after a correction (which would say
   that the item was gold and whether the new answer passed). When the step has not run yet,
   it will read the new value itself;
4. on commit, the item's consensus and adaptive-overlap decision are recomputed from its
   labels (``items_quality_refresh_task``, the path a suspension's exclusions take), so
   consensus, agreement and finalisation use the latest value. The task is queued for every
   correction, gold or not (a gold label's with no item: it counts in no consensus), so the
   two take the same steps;
5. an audit row ``annotate.label_revised``.

Rewards are posted when an item becomes final (``rewards.receivers.on_item_finalized``), from
the labels as they are then; a correction is refused once the item is final or a reward exists
for the label, so no posted amount ever rests on a value that changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.labels import label_from_display
from annotate.models import (
    AnnotatorQuality,
    Item,
    Label,
    LabelRevision,
    ProjectSuspension,
)
from annotate.quality.gold import gold_grade
from annotate.quality.reputation import first_shown_choice, quality_flags
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile

MAX_REVISIONS = 3
CLOSED_MESSAGE = "This label can no longer be changed: its item is settled, or the day you gave it has ended."
_CLOSED_STATES = (Item.State.FINAL, Item.State.ADJUDICATION, Item.State.CANCELLED)
_VALUE_FIELDS = ("choice", "strength", "ranking", "criteria", "rationale")


def day_end(moment: dt.datetime) -> dt.datetime:
    """The end of the UTC day of ``moment`` (the start of the next)."""
    start = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + dt.timedelta(days=1)


def label_is_open(*, label: Label, item: Item, revisions: int, now=None) -> bool:
    """Whether ``label`` may still be corrected (see the module's docstring), without the
    checks that need queries (suspensions, rewards). ``revisions``: corrections made so far."""
    now = now or timezone.now()
    if revisions >= MAX_REVISIONS or now >= day_end(label.created_at) or label.excluded_from_consensus:
        return False
    if label.is_gold:
        # Retired, its answer is in the gold review (when the project shows gold answers).
        return item.gold_retired_at is None or not label.project.gold_feedback
    return item.state not in _CLOSED_STATES


def _closed() -> ApplicationError:
    return ApplicationError(CLOSED_MESSAGE, code="label_closed", status_code=409)


def _reward_exists(label_id: Any) -> bool:
    from rewards.models import LedgerTransaction

    return LedgerTransaction.objects.filter(label_id=label_id).exists()


def _lock_label(label_id: Any) -> Label:
    query = Label.objects.select_related("assignment", "project")
    if connection.vendor != "postgresql":
        return query.get(pk=label_id)  # SQLite serialises writers
    try:
        return query.select_for_update(nowait=True, of=("self",)).get(pk=label_id)
    except DatabaseError as exc:
        raise ApplicationError(
            "This label is being processed right now: try again in a moment.",
            code="label_busy",
            status_code=409,
            headers={"Retry-After": "2"},
        ) from exc


def label_for_expert(*, expert: ExpertProfile, assignment_id: Any) -> Label:
    """The expert's own label of the assignment, or 404 (anyone else's looks absent)."""
    label = (
        Label.objects.select_related("assignment", "item", "project")
        .filter(assignment_id=assignment_id, expert=expert)
        .first()
    )
    if label is None:
        raise ApplicationError("Label not found.", code="not_found", status_code=404)
    return label


@transaction.atomic
def label_revise(*, label: Label, expert: ExpertProfile, payload: dict[str, Any], actor: Any = None) -> Label:
    """Correct the expert's own ``label`` to ``payload`` (in the letters they saw, as a submit
    takes it). Returns the label with its new value. See the module's docstring."""
    if label.expert_id != expert.pk:
        raise ApplicationError("Label not found.", code="not_found", status_code=404)
    if not isinstance(payload, dict):
        raise ApplicationError("Send the label as a JSON object.", code="invalid")
    payload = {k: v for k, v in payload.items() if k not in ("client_id", "active_seconds")}
    # The item first (the quality steps' order), then the label.
    item = Item.objects.select_for_update().get(pk=label.item_id)
    label = _lock_label(label.pk)
    project = label.project
    now = timezone.now()
    suspensions = ProjectSuspension.objects.filter(project=project, expert=expert)
    if suspensions.filter(active=True).exists():
        raise ApplicationError(
            "You are suspended from this project: your labels there cannot be changed.",
            code="suspended",
            status_code=403,
        )
    revisions = LabelRevision.objects.filter(label=label).count()
    if revisions >= MAX_REVISIONS:
        raise ApplicationError(
            f"A label can be corrected at most {MAX_REVISIONS} times.", code="revision_limit", status_code=409
        )
    if (
        not label_is_open(label=label, item=item, revisions=revisions, now=now)
        or suspensions.filter(created_at__gt=label.created_at).exists()
        or _reward_exists(label.pk)
    ):
        raise _closed()

    canonical = label_from_display(
        schema=project.label_schema,
        payload=payload,
        shown_order=label.assignment.shown_order,
        responses=item.responses,
    )
    new = {field: getattr(canonical, field) for field in _VALUE_FIELDS}
    old = {field: getattr(label, field) for field in _VALUE_FIELDS}
    if new == old:
        raise ApplicationError("This is the label you already gave.", code="unchanged")

    last = LabelRevision.objects.filter(label=label).aggregate(at=Max("created_at"))["at"]
    LabelRevision.objects.create(
        label=label,
        number=revisions + 1,
        **old,
        schema_version=label.schema_version,
        gold_passed=label.gold_passed,
        valued_at=last or label.created_at,
        created_at=now,
    )
    old_choice, old_passed = label.choice, label.gold_passed
    for field, value in new.items():
        setattr(label, field, value)
    label.schema_version = project.schema_version
    if label.quality_at is not None and label.is_gold and item.gold and old_passed is not None:
        label.gold_passed = gold_grade(
            gold=item.gold, choice=label.choice, strength=label.strength, ranking=label.ranking
        )
    label.save(update_fields=[*_VALUE_FIELDS, "schema_version", "gold_passed"])
    if label.quality_at is not None:
        _quality_follow(label=label, old_choice=old_choice, old_passed=old_passed)

    audit_record(
        action="annotate.label_revised",
        target=label,
        actor=actor,
        data={
            "project": str(project.pk),
            "item": str(item.uid),
            "revision": revisions + 1,
            "was": {k: old[k] for k in ("choice", "strength", "ranking")},
            "now": {k: new[k] for k in ("choice", "strength", "ranking")},
        },
    )
    # A gold label counts in no consensus: its task gets no item (an item promoted to silver gold
    # is final, and is not recomputed for it), but it is queued all the same.
    item_ids = [] if label.is_gold else [item.pk]
    transaction.on_commit(lambda: _refresh(item_ids), robust=True)
    return label


def _refresh(item_ids: list[int]) -> None:
    from annotate.quality.tasks import items_quality_refresh_task

    items_quality_refresh_task.delay(item_ids)


def _quality_follow(*, label: Label, old_choice: str, old_passed: bool | None) -> None:
    """Move the annotator's row from the label's old value to its new one (step 3 of the
    module's docstring). The gold rules are left to the next evidence."""
    from annotate.quality.services import expert_test_replay

    row = AnnotatorQuality.objects.select_for_update().filter(
        project_id=label.project_id, expert=label.expert_id
    )
    row = row.first()
    if row is None:
        return
    shown = label.assignment.shown_order
    before = first_shown_choice(choice=old_choice, shown_order=shown)
    after = first_shown_choice(choice=label.choice, shown_order=shown)
    row.pairwise_labels += int(after is not None) - int(before is not None)
    row.first_shown_choices += int(bool(after)) - int(bool(before))
    # Read for every correction, gold or not, regraded or not: a correction runs the same
    # statements whatever the item, so its time tells nothing (as a submit's does not).
    last_pass = Label.objects.filter(
        project_id=label.project_id, expert_id=label.expert_id, is_gold=True, gold_passed=True
    ).aggregate(at=Max("created_at"))["at"]
    state = expert_test_replay(project=label.project, expert_id=label.expert_id)
    if old_passed is not None and label.gold_passed != old_passed:
        step = 1 if label.gold_passed else -1
        row.gold_passed += step
        row.gold_failed -= step
        row.last_gold_passed_at = last_pass
        row.suspend_statistic, row.suspend_since, row.suspend_events = state.value, state.since, state.events
    row.flags = quality_flags(row)
    row.updated_at = timezone.now()
    row.save()
