"""Suspension of an expert from one project, the appeal, and the queue's gate.

A suspension (:func:`project_suspend`), in one transaction:

1. records a :class:`~annotate.models.ProjectSuspension` (at most one active per expert and
   project, held by a conditional unique key);
2. stops assignments at once: the gate ``suspended_in_project`` (registered from
   ``AnnotateConfig.ready``) refuses the expert work in the project from the next request;
3. releases the expert's live leases in the project, their slots returning to the pool;
4. marks the expert's ordinary labels from the suspension test's estimated change point on
   (the first label of the CUSUM's current excursion, :mod:`annotate.quality.cusum`) as
   ``excluded_from_consensus`` (kept, never deleted), on open and final items alike; those
   items' consensus is recomputed after commit (one transaction per item). An open item may get
   slots for replacement labels; a final item stays final, and when its delivered consensus
   changes the change is recorded on it (``ItemConsensus.revisions``) and the lab gets the
   webhook ``item.consensus_revised``. The rewards of excluded labels are clawed back by the
   periodic reconciliation (docs/rewards.md);
5. writes an audit event and notifies the expert.

The expert may appeal once; staff reinstate or uphold it. Reinstating ends the suspension and
restarts the suspension test from 0; of the labels this suspension excluded (each label records
its ``excluded_by``), those on items still open count again, and those on items that became
final meanwhile stay out of the consensus already delivered but are paid: the signal
``suspension_reinstated`` has ``rewards`` post their rewards (or reverse a clawback) in the
same transaction. Labels another (earlier) suspension excluded are left as they are. Every
step is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.models import (
    AnnotatorQuality,
    Assignment,
    Item,
    ItemConsensus,
    Label,
    Project,
    ProjectSuspension,
)
from annotate.quality.reputation import labels_from
from annotate.signals import suspension_reinstated
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit, user_group
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse, same_person
from rlhf_platform.experts.models import ExpertProfile

GATE_NAME = "suspended_in_project"

__all__ = [
    "GATE_NAME",
    "ProjectSuspension",
    "project_suspend",
    "suspended_in_project_gate",
    "suspension_appeal",
    "suspension_decide",
]


# What the suspended expert is told, by reason (the evidence is on their quality page).
SUSPENSION_WHY = {
    "gold_accuracy": "your answers on check items fell below its standard",
    "group": "staff confirmed that your account acts as one with others",
    "staff": "platform staff suspended you",
}


# The gate as a SQL condition (true: not suspended), re-checked by the queue's fast path in the
# statement that leases: a suspension stops work at once.
SUSPENDED_IN_PROJECT_RECHECK_SQL = (
    "NOT EXISTS (SELECT 1 FROM annotate_projectsuspension ps"
    " WHERE ps.project_id = %(project)s AND ps.expert_id = %(expert)s AND ps.active)"
)


def suspended_in_project_gate(expert: ExpertProfile, project: Project) -> str | None:
    """The queue's gate: ``suspended_in_project`` while an active suspension exists."""
    if ProjectSuspension.objects.filter(project_id=project.pk, expert_id=expert.pk, active=True).exists():
        return GATE_NAME
    return None


def _items_refresh_on_commit(item_ids: list[int], *, suspension_id: Any = None) -> None:
    if not item_ids:
        return
    from annotate.quality.tasks import items_quality_refresh_task

    reason = str(suspension_id) if suspension_id else None
    transaction.on_commit(lambda: items_quality_refresh_task.delay(item_ids, reason))


def _leases_release(*, project_id: Any, expert_id: Any) -> int:
    from annotate.queue import assignment_release

    released = 0
    live = Assignment.objects.select_for_update().filter(
        project_id=project_id, expert_id=expert_id, status=Assignment.Status.ACTIVE
    )
    for assignment in live:
        assignment_release(
            assignment=assignment, status=Assignment.Status.RELEASED, reason="suspended from the project"
        )
        released += 1
    return released


def _final_agreement(labels) -> tuple[int, int]:
    """(matching, all) of ``labels`` on final items, against those items' consensus."""
    from annotate.quality.consensus_update import label_agrees

    rows = list(labels.filter(item__state=Item.State.FINAL).values_list("item_id", "choice", "ranking"))
    consensus = {row.item_id: row for row in ItemConsensus.objects.filter(item_id__in={r[0] for r in rows})}
    hits = sum(
        label_agrees((choice, ranking), consensus[item_id])
        for item_id, choice, ranking in rows
        if item_id in consensus
    )
    return hits, sum(item_id in consensus for item_id, _c, _r in rows)


@transaction.atomic
def project_suspend(
    *,
    project: Project,
    expert_id: Any,
    reason: str,
    details: dict[str, Any] | None = None,
    actor: Any = None,
    since: datetime | None = None,
) -> ProjectSuspension:
    """Suspend the expert from the project (see the module's docstring). Labels from ``since``
    on are excluded; without it, from the test's change point, or when the test has none (a
    staff suspension of someone the test does not suspect) from the last passed gold.
    Idempotent: an active suspension is returned as it is."""
    existing = ProjectSuspension.objects.filter(project=project, expert_id=expert_id, active=True).first()
    if existing is not None:
        return existing
    quality, _ = AnnotatorQuality.objects.get_or_create(project=project, expert_id=expert_id)
    released = _leases_release(project_id=project.pk, expert_id=expert_id)
    if since is None:
        since = quality.suspend_since or quality.last_gold_passed_at
    excluded = labels_from(project_id=project.pk, expert_id=expert_id, since=since).filter(
        excluded_from_consensus=False
    )
    item_ids = sorted(set(excluded.values_list("item_id", flat=True)))
    suspension = ProjectSuspension.objects.create(
        project=project,
        expert_id=expert_id,
        reason=reason,
        details=details or {},
        released_leases=released,
    )
    hits, total = _final_agreement(excluded)
    excluded_count = Label.objects.filter(pk__in=excluded.values("pk")).update(
        excluded_from_consensus=True, excluded_by=suspension
    )
    suspension.excluded_labels = excluded_count
    suspension.save(update_fields=["excluded_labels"])
    # Labels on final items leave the agreement they were counted in when the item became final.
    AnnotatorQuality.objects.filter(pk=quality.pk).update(
        status=AnnotatorQuality.Status.SUSPENDED,
        agreement_hits=Greatest(F("agreement_hits") - hits, 0),
        agreement_total=Greatest(F("agreement_total") - total, 0),
    )
    audit_record(
        action="quality.suspend",
        target=suspension,
        actor=actor,
        data={
            "project": str(project.pk),
            "expert": str(expert_id),
            "reason": reason,
            "details": details or {},
            "excluded_labels": excluded_count,
            "excluded_from": since.isoformat() if since else None,
            "final_items": Item.objects.filter(pk__in=item_ids, state=Item.State.FINAL).count(),
            "released_leases": released,
        },
    )
    user_id = ExpertProfile.objects.filter(pk=expert_id).values_list("user_id", flat=True).first()
    why = SUSPENSION_WHY.get(reason, SUSPENSION_WHY["staff"])
    notify_on_commit(
        user_group(user_id),
        {
            "type": "quality.suspended",
            "project": str(project.pk),
            "suspension": str(suspension.pk),
            "message": f"You are suspended from {project.name}: {why}. "
            "My quality shows the evidence; you may appeal once.",
        },
    )
    _items_refresh_on_commit(item_ids, suspension_id=suspension.pk)
    return suspension


@transaction.atomic
def suspension_appeal(
    *, suspension: ProjectSuspension, expert: ExpertProfile, text: str
) -> ProjectSuspension:
    """The expert's appeal (once per suspension), for staff to decide."""
    suspension = ProjectSuspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.expert_id != expert.pk:
        raise ApplicationError("Suspension not found.", code="not_found", status_code=404)
    text = (text or "").strip()
    if len(text) < 10:
        raise ApplicationError("Explain your appeal (at least 10 characters).", code="required", field="text")
    if len(text) > 5000:
        raise ApplicationError("At most 5,000 characters.", code="too_long", field="text")
    if not suspension.active:
        raise ApplicationError("This suspension has ended.", code="not_active", status_code=409)
    if suspension.appeal != ProjectSuspension.Appeal.NONE:
        raise ApplicationError(
            f"This suspension was already appealed ({suspension.appeal}).",
            code="already_appealed",
            status_code=409,
        )
    suspension.appeal = ProjectSuspension.Appeal.PENDING
    suspension.appeal_text = text
    suspension.appealed_at = timezone.now()
    suspension.save(update_fields=["appeal", "appeal_text", "appealed_at"])
    audit_record(action="quality.appeal", target=suspension, actor=expert.user, data={"text": text[:500]})
    notify_on_commit(
        STAFF_GROUP,
        {"type": "quality.appeal", "suspension": str(suspension.pk), "project": str(suspension.project_id)},
    )
    return suspension


DECISIONS = ("reinstate", "uphold")


@transaction.atomic
def suspension_decide(
    *, suspension: ProjectSuspension, actor: Any, decision: str, note: str = ""
) -> ProjectSuspension:
    """A reviewer other than the suspended expert decides: ``reinstate`` (the suspension ends;
    the expert's excluded labels on items still open count again; the gold rule restarts) or
    ``uphold`` (it stays)."""
    action_require(actor, Action.SUSPENSION_DECIDE)
    if decision not in DECISIONS:
        raise ApplicationError(
            f"decision is one of {list(DECISIONS)}.", code="invalid_choice", field="decision"
        )
    suspension = ProjectSuspension.objects.select_for_update().get(pk=suspension.pk)
    owner_id = ExpertProfile.objects.filter(pk=suspension.expert_id).values_list("user_id", flat=True).first()
    if same_person(actor, owner_id):
        four_eyes_refuse(
            rule=FourEyesRule.OWN_SUSPENSION,
            actor=actor,
            target=suspension,
            message="You cannot decide on your own suspension: another reviewer must.",
        )
    if not suspension.active:
        raise ApplicationError("This suspension has ended.", code="not_active", status_code=409)
    if decision == "uphold" and suspension.appeal != ProjectSuspension.Appeal.PENDING:
        raise ApplicationError("There is no appeal to decide.", code="no_appeal", status_code=409)
    now = timezone.now()
    suspension.decided_by = actor
    suspension.decided_at = now
    suspension.decision_note = (note or "").strip()[:5000]
    item_ids: list[int] = []
    paid_label_ids: list[Any] = []
    if decision == "reinstate":
        suspension.active = False
        suspension.appeal = ProjectSuspension.Appeal.REINSTATED
        quality = AnnotatorQuality.objects.select_for_update().get(
            project_id=suspension.project_id, expert_id=suspension.expert_id
        )
        quality.gold_passed_at_reinstatement = quality.gold_passed
        quality.gold_failed_at_reinstatement = quality.gold_failed
        quality.status = AnnotatorQuality.Status.OK
        quality.suspend_statistic, quality.suspend_since, quality.suspend_events = 0, None, 0
        quality.save(
            update_fields=[
                "gold_passed_at_reinstatement",
                "gold_failed_at_reinstatement",
                "status",
                "suspend_statistic",
                "suspend_since",
                "suspend_events",
            ]
        )
        excluded = Label.objects.filter(
            project_id=suspension.project_id, expert_id=suspension.expert_id, excluded_from_consensus=True
        )
        # Labels excluded before labels recorded their suspension (excluded_by is null) are
        # restored as they always were.
        restored = excluded.filter(Q(excluded_by=suspension) | Q(excluded_by__isnull=True)).exclude(
            item__state=Item.State.FINAL
        )
        item_ids = sorted(set(restored.values_list("item_id", flat=True)))
        restored.update(excluded_from_consensus=False, excluded_by=None)
        paid_label_ids = list(
            excluded.filter(excluded_by=suspension, item__state=Item.State.FINAL)
            .order_by("created_at")
            .values_list("pk", flat=True)
        )
    else:
        suspension.appeal = ProjectSuspension.Appeal.UPHELD
    suspension.save()
    audit_record(
        action=f"quality.{decision}",
        target=suspension,
        actor=actor,
        data={
            "note": suspension.decision_note[:500],
            "restored_items": len(item_ids),
            "paid_final_labels": len(paid_label_ids),
        },
    )
    if decision == "reinstate":
        suspension_reinstated.send(
            sender=ProjectSuspension, suspension_id=suspension.pk, label_ids=paid_label_ids, actor=actor
        )
    user_id = ExpertProfile.objects.filter(pk=suspension.expert_id).values_list("user_id", flat=True).first()
    notify_on_commit(
        user_group(user_id),
        {
            "type": f"quality.appeal_{'reinstated' if decision == 'reinstate' else 'upheld'}",
            "suspension": str(suspension.pk),
        },
    )
    _items_refresh_on_commit(item_ids)
    return suspension
