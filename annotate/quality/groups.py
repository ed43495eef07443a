"""Suspected groups of annotators: detection, the hold on their rewards, and staff's decision.

**Detection** (:func:`project_groups_detect`, run by the project's periodic fit,
:func:`~annotate.quality.model_fit.project_model_fit`; idempotent). The annotators of a project
are the nodes of a graph; a pair is joined by an edge when at least one signal passes its
threshold:

- ``agreement``: the agreement e-value of :meth:`~annotate.quality.group_signals.GroupScorer.pair_evidence`
  (their agreement against what their fitted confusions and everyone else's answers imply)
  reaches ``log(pairs / QUALITY_GROUP_ALPHA)``;
- ``group_agreement``: three or more accounts whose agreement *as a group* reaches its threshold
  (:func:`~annotate.quality.group_signals.agreement_groups`: the group's e-value against
  Bonferroni over every group of its size, up to ``QUALITY_GROUP_MAX_SIZE``), which joins
  every pair of them. A ring whose pairs each share a few items gathers its evidence over all
  of them;
- ``timing``: their submits fall within ``QUALITY_GROUP_TIMING_WINDOW_SECONDS`` of each other
  more often than with their timelines shifted by a few minutes, Poisson p below
  ``QUALITY_GROUP_ALPHA / pairs`` (:func:`~annotate.quality.group_signals.timing_evidence`,
  over the project's last ``QUALITY_GROUP_TIMING_MAX_LABELS`` submits);
- ``credential``: a credential evidence file with the same SHA-256 on both accounts;
- ``fingerprint``: a log-in from the same device (keyed hash of address and user agent,
  :mod:`rlhf_platform.accounts.fingerprints`) on both accounts within the retention period,
  unless that device served more than ``QUALITY_GROUP_DEVICE_MAX_ACCOUNTS`` accounts (a shared
  network, not a person).

The connected components of two or more accounts are persisted as
:class:`~annotate.models.AnnotatorGroup` (``suspected``) with their edges as evidence; a
component that overlaps a suspected group grows it (several overlapping ones are merged into
the oldest). Pairs staff cleared together are not joined again; accounts already in a
confirmed group are not regrouped, and a new account linked to one forms a group of its own.

**What a group changes.** While a group is suspected, its members' labels in the project earn
nothing yet (:func:`group_held_expert_ids`, read by ``rewards``); in the consensus fit and in
every item's posterior, its members who labelled one item share one vote's weight (the fit's
``meta["groups"]``, :meth:`~annotate.quality.aggregation.DawidSkeneModel.group_of`).

**Decision** (:func:`group_decide`, one for all members; a reviewer who is not a member, audited):
``confirm`` suspends every member from the project with their whole history of labels excluded
(:func:`~annotate.quality.suspension.project_suspend`, reason ``group``: open items reopen, final
ones are revised, paid rewards are clawed back, nothing more is paid); each member may appeal
that suspension like any other. ``clear`` ends the hold: the signal ``group_cleared`` has
rewards post the held rewards in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from annotate.models import AnnotatorGroup, AnnotatorGroupMember, Item, Label, Project
from annotate.quality.consensus_model import collusion_groups
from annotate.quality.group_signals import GroupScorer, agreement_groups, timing_evidence
from annotate.signals import group_cleared
from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit, user_group
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse, same_person
from rlhf_platform.experts.models import Credential, ExpertProfile

SIGNALS = ("agreement", "group_agreement", "timing", "credential", "fingerprint")
DECISIONS = ("confirm", "clear")
SUSPENSION_REASON = "group"
#: A confirmed group excludes every label of its members in the project.
WHOLE_HISTORY = datetime(1970, 1, 1, tzinfo=UTC)

Edges = dict[tuple[str, str], dict[str, Any]]


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def group_held_expert_ids(*, project_id: Any) -> set[Any]:
    """The experts whose rewards in the project are held: members of a suspected group."""
    return set(
        AnnotatorGroupMember.objects.filter(
            project_id=project_id, group__status=AnnotatorGroup.Status.SUSPECTED
        ).values_list("expert_id", flat=True)
    )


def project_groups_in_force(*, project_id: Any) -> list[list[str]]:
    """The suspected and confirmed groups of the project, as lists of expert ids (text): what
    the consensus counts as one vote per item."""
    members: dict[Any, list[str]] = defaultdict(list)
    rows = AnnotatorGroupMember.objects.filter(
        project_id=project_id,
        group__status__in=[AnnotatorGroup.Status.SUSPECTED, AnnotatorGroup.Status.CONFIRMED],
    ).values_list("group_id", "expert_id")
    for group_id, expert_id in rows:
        members[group_id].append(str(expert_id))
    return [sorted(m) for m in members.values() if len(m) > 1]


def groups_union(*group_lists: list[list[str]]) -> list[list[str]]:
    """Connected components of several lists of groups (a member of two groups joins them)."""
    pairs = [(g[0], m) for groups in group_lists for g in groups for m in g[1:]]
    return collusion_groups(pairs)


def project_groups(*, project_id: Any, statuses: tuple[str, ...] | None = None):
    """The project's groups (merged ones left out), newest first, with their members."""
    return staff_groups(status=None, statuses=statuses).filter(project_id=project_id)


def staff_groups(*, status: str | None = None, statuses: tuple[str, ...] | None = None):
    """Groups of every project for staff (merged ones left out), newest first, with their
    project and members."""
    rows = AnnotatorGroup.objects.exclude(status=AnnotatorGroup.Status.MERGED)
    if status:
        rows = rows.filter(status=status)
    if statuses:
        rows = rows.filter(status__in=statuses)
    return (
        rows.select_related("project", "decided_by")
        .prefetch_related("members__expert__user")
        .order_by("-detected_at", "pk")
    )


# --------------------------------------------------------------------------------------------
# Signals that need the database
# --------------------------------------------------------------------------------------------


def _add(edges: Edges, a: Any, b: Any, signal: str, evidence: dict[str, Any]) -> None:
    a, b = sorted((str(a), str(b)))
    if a != b:
        edges.setdefault((a, b), {})[signal] = evidence


def _shared_value_edges(edges: Edges, rows, *, signal: str, field: str, max_accounts: int) -> None:
    """Edges between the accounts sharing a value (a file hash, a device), with the value's
    first 16 hex digits as evidence. A value on more than ``max_accounts`` accounts is ignored."""
    owners: dict[str, set[str]] = defaultdict(set)
    for expert_id, value in rows:
        if value:
            owners[value].add(str(expert_id))
    for value, accounts in owners.items():
        if len(accounts) < 2 or len(accounts) > max_accounts:
            continue
        ordered = sorted(accounts)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                key = tuple(sorted((a, b)))
                known = edges.get(key, {}).get(signal, {}).get(field, [])
                _add(edges, a, b, signal, {field: sorted({*known, value[:16]}), "accounts": len(accounts)})


def _credential_edges(edges: Edges, expert_ids: list[Any]) -> None:
    rows = (
        Credential.objects.filter(expert_id__in=expert_ids)
        .exclude(evidence_sha256="")
        .values_list("expert_id", "evidence_sha256")
    )
    _shared_value_edges(
        edges,
        rows,
        signal="credential",
        field="sha256",
        max_accounts=settings.QUALITY_GROUP_DEVICE_MAX_ACCOUNTS,
    )


def _fingerprint_edges(edges: Edges, expert_ids: list[Any]) -> None:
    from rlhf_platform.accounts.models import LoginFingerprint

    expert_of_user = dict(ExpertProfile.objects.filter(pk__in=expert_ids).values_list("user_id", "pk"))
    since = timezone.now() - timedelta(days=settings.LOGIN_FINGERPRINT_RETENTION_DAYS)
    rows = (
        (expert_of_user[user_id], device)
        for user_id, device in LoginFingerprint.objects.filter(
            user_id__in=list(expert_of_user), created_at__gte=since
        )
        .values_list("user_id", "device")
        .distinct()
    )
    _shared_value_edges(
        edges,
        rows,
        signal="fingerprint",
        field="devices",
        max_accounts=settings.QUALITY_GROUP_DEVICE_MAX_ACCOUNTS,
    )


def _timing_edges(edges: Edges, project_id: Any) -> None:
    recent = (
        Label.objects.filter(project_id=project_id)
        .order_by("-created_at")
        .values_list("expert_id", "created_at")[: settings.QUALITY_GROUP_TIMING_MAX_LABELS]
    )
    times: dict[str, list[float]] = defaultdict(list)
    for expert_id, created_at in recent.iterator(chunk_size=20_000):
        times[str(expert_id)].append(created_at.timestamp())
    for t in timing_evidence(
        times,
        window=settings.QUALITY_GROUP_TIMING_WINDOW_SECONDS,
        alpha=settings.QUALITY_GROUP_ALPHA,
        min_close=settings.QUALITY_GROUP_TIMING_MIN_CLOSE,
        max_close_pairs=settings.QUALITY_GROUP_TIMING_MAX_CLOSE_PAIRS,
    ):
        if t.flagged:
            _add(
                edges,
                t.worker_a,
                t.worker_b,
                "timing",
                {
                    "close": t.close,
                    "expected": round(t.expected, 3),
                    "p_value": t.p_value,
                    "threshold": t.threshold,
                    "window_seconds": settings.QUALITY_GROUP_TIMING_WINDOW_SECONDS,
                },
            )


def _agreement_edges(edges: Edges, agreement: dict[str, Any] | None) -> None:
    if not agreement:
        return
    coded = agreement["coded"][-settings.QUALITY_COLLUSION_MAX_LABELS :]
    workers = [str(w) for w in agreement["workers"]]
    scorer = GroupScorer(
        coded[:, 0],
        coded[:, 1],
        coded[:, 2],
        confusion=np.asarray(agreement["confusion"]),
        priors=agreement["priors"],
        gold=agreement.get("gold"),
    )
    pairs = scorer.pair_evidence(workers=list(range(len(workers))), alpha=settings.QUALITY_GROUP_ALPHA)
    for p in pairs:
        if p.flagged:
            _add(
                edges,
                workers[p.worker_a],
                workers[p.worker_b],
                "agreement",
                {
                    "log_e": round(p.log_e, 3),
                    "threshold": round(p.threshold, 3),
                    "shared_items": p.shared,
                    "agreed": p.agreed,
                    "surprising": p.surprising,
                },
            )
    for group in agreement_groups(
        scorer,
        pairs,
        n_workers=len(np.unique(coded[:, 1])),
        alpha=settings.QUALITY_GROUP_ALPHA,
        max_size=settings.QUALITY_GROUP_MAX_SIZE,
    ):
        evidence = {
            "members": len(group.members),
            "items": group.items,
            "agreed": group.agreed,
            "log_e": round(group.log_e, 3),
            "threshold": round(group.threshold, 3),
        }
        for a, b in combinations(group.members, 2):
            _add(edges, workers[a], workers[b], "group_agreement", evidence)


def project_group_edges(*, project: Project, agreement: dict[str, Any] | None = None) -> Edges:
    """The flagged edges of the project's graph: ``{(a, b): {signal: evidence}}`` with expert
    ids as text. ``agreement``: the fit's coded labels and parameters (``coded``, ``workers``,
    ``confusion``, ``priors``, ``gold``); without it the agreement signal is not computed."""
    expert_ids = list(
        Label.objects.filter(project_id=project.pk).values_list("expert_id", flat=True).distinct()
    )
    edges: Edges = {}
    if len(expert_ids) < 2:
        return edges
    _agreement_edges(edges, agreement)
    _timing_edges(edges, project.pk)
    _credential_edges(edges, expert_ids)
    _fingerprint_edges(edges, expert_ids)
    return edges


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def _thresholds() -> dict[str, Any]:
    return {
        "alpha": settings.QUALITY_GROUP_ALPHA,
        "timing_window_seconds": settings.QUALITY_GROUP_TIMING_WINDOW_SECONDS,
        "timing_min_close": settings.QUALITY_GROUP_TIMING_MIN_CLOSE,
        "device_max_accounts": settings.QUALITY_GROUP_DEVICE_MAX_ACCOUNTS,
        "group_max_size": settings.QUALITY_GROUP_MAX_SIZE,
    }


def _edge_rows(edges: Edges, members: set[str]) -> list[dict[str, Any]]:
    return [
        {"a": a, "b": b, "signals": ev}
        for (a, b), ev in sorted(edges.items())
        if a in members and b in members
    ]


@transaction.atomic
def project_groups_detect(*, project: Project, agreement: dict[str, Any] | None = None) -> dict[str, int]:
    """Detect the project's groups from its signals and persist them (see the module's
    docstring). Idempotent: the same evidence changes nothing. Returns counts of groups
    created, grown and merged."""
    edges = project_group_edges(project=project, agreement=agreement)
    locked = list(
        AnnotatorGroup.objects.select_for_update()
        .filter(project=project)
        .exclude(status=AnnotatorGroup.Status.MERGED)
        .order_by("detected_at", "pk")
    )
    members_of: dict[Any, set[str]] = defaultdict(set)
    for group_id, expert_id in AnnotatorGroupMember.objects.filter(group__in=locked).values_list(
        "group_id", "expert_id"
    ):
        members_of[group_id].add(str(expert_id))
    cleared_together = {
        (a, b)
        for g in locked
        if g.status == AnnotatorGroup.Status.CLEARED
        for a in members_of[g.pk]
        for b in members_of[g.pk]
        if a < b
    }
    edges = {pair: ev for pair, ev in edges.items() if pair not in cleared_together}
    confirmed = {m for g in locked if g.status == AnnotatorGroup.Status.CONFIRMED for m in members_of[g.pk]}
    suspected = [g for g in locked if g.status == AnnotatorGroup.Status.SUSPECTED]
    counts = {"created": 0, "grown": 0, "merged": 0}
    label_counts = dict(
        Label.objects.filter(project=project)
        .values("expert_id")
        .annotate(n=Count("pk"))
        .values_list("expert_id", "n")
    )
    now = timezone.now()
    for component in collusion_groups(edges):
        component_set = set(component)
        fresh = component_set - confirmed
        touching = [g for g in suspected if members_of[g.pk] & component_set]
        linked_confirmed = sorted(component_set & confirmed)
        if not touching and (len(fresh) >= 2 or (fresh and linked_confirmed)):
            group = AnnotatorGroup.objects.create(project=project, detected_at=now, updated_at=now)
            suspected.append(group)
            counts["created"] += 1
            action = "quality.group_detected"
        elif touching:
            group, others = touching[0], touching[1:]
            for other in others:
                kept = set(
                    AnnotatorGroupMember.objects.filter(group=group).values_list("expert_id", flat=True)
                )
                moving = AnnotatorGroupMember.objects.filter(group=other)
                moving.exclude(expert_id__in=kept).update(group=group)
                moving.delete()
                other.status, other.merged_into, other.updated_at = AnnotatorGroup.Status.MERGED, group, now
                other.save(update_fields=["status", "merged_into", "updated_at"])
                members_of[group.pk] |= members_of.pop(other.pk)
                suspected.remove(other)
                counts["merged"] += 1
            if fresh <= members_of[group.pk] and not others:
                _evidence_refresh(group, edges, members_of[group.pk], linked_confirmed)
                continue
            counts["grown"] += 1
            action = "quality.group_grown"
        else:
            continue
        new = sorted(fresh - members_of[group.pk])
        experts = {str(e.pk): e for e in ExpertProfile.objects.filter(pk__in=new)}
        AnnotatorGroupMember.objects.bulk_create(
            AnnotatorGroupMember(
                group=group,
                project=project,
                expert=experts[m],
                labels_at_flag=label_counts.get(experts[m].pk, 0),
                added_at=now,
            )
            for m in new
            if m in experts
        )
        members_of[group.pk] |= set(new)
        _evidence_refresh(group, edges, members_of[group.pk], linked_confirmed, force=True)
        audit_record(
            action=action,
            target=group,
            data={
                "project": str(project.pk),
                "members": sorted(members_of[group.pk]),
                "added": new,
                "signals": group.signals,
            },
        )
        notify_on_commit(
            STAFF_GROUP,
            {"type": "quality.group_suspected", "group": str(group.pk), "project": str(project.pk)},
        )
    return counts


def _evidence_refresh(
    group: AnnotatorGroup, edges: Edges, members: set[str], linked: list[str], *, force: bool = False
) -> None:
    """Keep the group's evidence to its current edges (new scores as labels accrue)."""
    rows = _edge_rows(edges, members | set(linked))
    if not rows and not force:
        return
    signals = sorted(
        {s for row in rows for s in row["signals"]} | set(group.signals or []), key=SIGNALS.index
    )
    evidence = {
        "edges": rows or (group.evidence or {}).get("edges", []),
        "linked_confirmed": linked,
        "thresholds": _thresholds(),
    }
    if not force and evidence == group.evidence and signals == group.signals:
        return
    group.signals, group.evidence, group.updated_at = signals, evidence, timezone.now()
    group.save(update_fields=["signals", "evidence", "updated_at"])


# --------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------


def _member_user_ids(group: AnnotatorGroup) -> dict[Any, Any]:
    return dict(AnnotatorGroupMember.objects.filter(group=group).values_list("expert_id", "expert__user_id"))


@transaction.atomic
def group_decide(*, group: AnnotatorGroup, actor: Any, decision: str, note: str = "") -> AnnotatorGroup:
    """Staff's one decision on all the members of a suspected group (see the module's
    docstring): ``confirm`` or ``clear``. The reviewer may not be a member."""
    from annotate.quality.suspension import project_suspend

    action_require(actor, Action.GROUP_DECIDE)
    if decision not in DECISIONS:
        raise ApplicationError(
            f"decision is one of {list(DECISIONS)}.", code="invalid_choice", field="decision"
        )
    group = AnnotatorGroup.objects.select_for_update().select_related("project").get(pk=group.pk)
    members = _member_user_ids(group)
    if any(same_person(actor, user_id) for user_id in members.values()):
        four_eyes_refuse(
            rule=FourEyesRule.OWN_GROUP,
            actor=actor,
            target=group,
            message="You are a member of this group: another reviewer must decide.",
        )
    if group.status != AnnotatorGroup.Status.SUSPECTED:
        raise ApplicationError(
            f"This group is already {group.status}.", code="already_decided", status_code=409
        )
    note = (note or "").strip()[:5000]
    if decision == "confirm" and len(note) < 10:
        raise ApplicationError(
            "Say why the group is confirmed (at least 10 characters): its members can appeal.",
            code="required",
            field="note",
        )
    group.status = AnnotatorGroup.Status.CONFIRMED if decision == "confirm" else AnnotatorGroup.Status.CLEARED
    group.decided_by, group.decided_at, group.decision_note = actor, timezone.now(), note
    group.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    project = group.project
    suspensions: list[str] = []
    paid_items: list[int] = []
    if decision == "confirm":
        for expert_id in sorted(members, key=str):
            suspension = project_suspend(
                project=project,
                expert_id=expert_id,
                reason=SUSPENSION_REASON,
                details={
                    "group": str(group.pk),
                    "members": len(members),
                    "signals": group.signals,
                    "note": note,
                },
                actor=actor,
                since=WHOLE_HISTORY,
            )
            suspensions.append(str(suspension.pk))
    else:
        paid_items = sorted(
            set(
                Label.objects.filter(
                    project=project,
                    expert_id__in=list(members),
                    is_gold=False,
                    item__state=Item.State.FINAL,
                ).values_list("item_id", flat=True)
            )
        )
    audit_record(
        action=f"quality.group_{decision}",
        target=group,
        actor=actor,
        data={
            "project": str(project.pk),
            "members": sorted(str(m) for m in members),
            "signals": group.signals,
            "note": note[:500],
            "suspensions": suspensions,
            "paid_items": len(paid_items),
        },
    )
    if decision == "clear":
        group_cleared.send(sender=AnnotatorGroup, group_id=group.pk, item_ids=paid_items, actor=actor)
        for user_id in members.values():
            notify_on_commit(
                user_group(user_id),
                {"type": "quality.group_cleared", "project": str(project.pk), "group": str(group.pk)},
            )
    return group


def group_summary(group: AnnotatorGroup) -> str:
    """The group's evidence in one sentence for people."""
    edges = (group.evidence or {}).get("edges", [])
    parts = []
    for signal in group.signals or []:
        rows = [e["signals"][signal] for e in edges if signal in e["signals"]]
        if not rows:
            continue
        if signal == "agreement":
            best = max(r["log_e"] for r in rows)
            parts.append(
                f"agreement beyond their accuracies on {len(rows)} pair(s) (up to {best:.1f} nats, "
                f"threshold {rows[0]['threshold']:.1f})"
            )
        elif signal == "timing":
            parts.append(
                f"submits within {rows[0]['window_seconds']:g} s of each other on {len(rows)} pair(s)"
            )
        elif signal == "credential":
            hashes = {h for r in rows for h in r["sha256"]}
            parts.append(f"{len(hashes)} credential file(s) uploaded on several accounts")
        elif signal == "fingerprint":
            devices = {h for r in rows for h in r["devices"]}
            parts.append(f"log-ins from {len(devices)} shared device(s)")
    return "; ".join(parts) + "." if parts else "No current evidence."


__all__ = [
    "DECISIONS",
    "SIGNALS",
    "group_decide",
    "group_held_expert_ids",
    "groups_union",
    "project_group_edges",
    "project_groups",
    "project_groups_detect",
    "project_groups_in_force",
    "staff_groups",
]
