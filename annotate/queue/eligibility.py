"""Who may receive work from which project now: the expert's state, the project's, the
credential level, and the gates other apps register (:mod:`annotate.gates`)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from django.utils import timezone

from annotate.gates import gate_lease_guards, gate_message, gate_reads_shared, gate_reason
from annotate.models import Project
from annotate.queue.answers import NoWork
from rlhf_platform.experts.models import Domain, ExpertProfile
from rlhf_platform.experts.selectors import expertise_levels


def is_senior(*, project: Project, level: int) -> bool:
    """Whether an annotator of ``level`` may take the project's reserved slots: the extra slots
    of an item whose consensus is unsure wait ``contested_hold_seconds`` for annotators of at
    least ``senior_level`` before anyone may take them (annotate/quality/
    consensus_update.py ``slots_add``)."""
    return level >= project.senior_level


def expert_block(expert: ExpertProfile) -> NoWork | None:
    if not expert.user.is_active:
        return NoWork("inactive", "This account is not active.")
    if expert.suspended_at is not None:
        return NoWork("suspended", "Your account is suspended from labelling.")
    return None


def project_block(
    *,
    expert: ExpertProfile,
    project: Project,
    levels: dict[str, int] | None = None,
    level: int | None = None,
    rechecked_at_lease: bool = False,
    per_project: bool | None = None,
) -> NoWork | None:
    """Why ``expert`` may not work on ``project`` now, or None. ``level`` (the expert's level
    in the project's domain) or ``levels`` (all of them) are read when not given.
    ``rechecked_at_lease`` and ``per_project``: which gates are asked, as for
    :func:`annotate.gates.gate_reason`."""
    block = expert_block(expert)
    if block:
        return block
    if project.status != Project.Status.ACTIVE:
        return NoWork("project_not_active", f"The project is {project.status}.")
    if level is None:
        levels = expertise_levels(expert=expert) if levels is None else levels
        level = levels.get(project.domain.path, 0)
    if level == 0:
        return NoWork("no_credential", f"You need an approved credential in {project.domain.name}.")
    if level < project.min_level:
        return NoWork("level_too_low", f"This project needs level {project.min_level}; yours is {level}.")
    reason = gate_reason(
        expert=expert, project=project, rechecked_at_lease=rechecked_at_lease, per_project=per_project
    )
    if reason:
        return NoWork(reason, gate_message(reason))
    return None


# The project, its domain and the expert's level there in one statement without the ORM's query
# compiler (which cost more than the query itself on this hot path). The level is
# expertise_level()'s: the highest approved credential in force in the project's domain or below
# it (substr, not LIKE: a domain path may hold LIKE's wildcard "_").
_PROJECT_WITH_LEVEL_SQL = """
SELECT p.*, d.id AS domain__id, d.slug AS domain__slug, d.name AS domain__name,
       d.parent_id AS domain__parent_id, d.path AS domain__path,
       (SELECT max(c.level) FROM experts_credential c JOIN experts_domain cd ON cd.id = c.domain_id
        WHERE c.expert_id = %s AND c.status = 'approved' AND (c.expires_on IS NULL OR c.expires_on >= %s)
          AND (cd.path = d.path OR substr(cd.path, 1, length(d.path) + 1) = d.path || '/')) AS expert_level
FROM annotate_project p JOIN experts_domain d ON d.id = p.domain_id
WHERE p.id = %s
"""


def _uuid(value: Any) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def project_with_level(*, expert: ExpertProfile, project_id: Any) -> tuple[Project, int] | None:
    """The project (its domain loaded) and the expert's level in its domain, or None."""
    try:
        project_uuid = _uuid(project_id)
    except ValueError:
        return None
    params = [
        ExpertProfile._meta.pk.get_db_prep_value(expert.pk, connection),
        connection.ops.adapt_datefield_value(timezone.now().date()),
        Project._meta.pk.get_db_prep_value(project_uuid, connection),
    ]
    project = next(iter(Project.objects.raw(_PROJECT_WITH_LEVEL_SQL, params)), None)
    if project is None:
        return None
    domain = Domain.from_db(
        connection.alias,
        ["id", "slug", "name", "parent_id", "path"],
        [
            _uuid(project.domain__id),
            project.domain__slug,
            project.domain__name,
            _uuid(project.domain__parent_id),
            project.domain__path,
        ],
    )
    project.domain = domain
    return project, project.expert_level or 0


def project_open_for_claim(*, expert_id: Any, project_id: Any) -> tuple[Project, int] | None:
    """The expert's part of the eligibility, for a transport that remembers it for a moment
    and claims with the one-statement claim (the queue's fast path): the project and the
    expert's level there when the expert may work on it now, else None. Left out, because the
    transport has them otherwise:

    - the gates registered per project (the budget): :func:`project_gates_open`, read once per
      project for all its experts;
    - the gates with a ``recheck_sql`` (the project suspension): the claim statement evaluates
      them, a refusal there is the claim's, and Django's path then answers with its reason.

    Also None when a gate of the expert's part must decide at the instant of the lease."""
    expert = ExpertProfile.objects.select_related("user").filter(pk=expert_id).first()
    if expert is None:
        return None
    found = project_with_level(expert=expert, project_id=project_id)
    if found is None:
        return None
    project, level = found
    with gate_reads_shared():
        if project_block(
            expert=expert, project=project, level=level, rechecked_at_lease=True, per_project=False
        ):
            return None
        guards = gate_lease_guards(expert=expert, project=project, per_project=False)
        return None if guards else (project, level)


def project_gates_open(*, project_id: Any) -> bool:
    """The project's part of the eligibility: whether the gates registered per project (the
    budget) let its experts through, and no lease needs their guard now (near the end of the
    budget every lease is decided under its lock, on Django's path)."""
    project = Project.objects.filter(pk=project_id).only("id", "lab_id").first()
    if project is None:
        return False
    with gate_reads_shared():
        if gate_reason(expert=None, project=project, per_project=True):
            return False
        return not gate_lease_guards(expert=None, project=project, per_project=True)


def projects_open_to(*, expert: ExpertProfile, levels: dict[str, int] | None = None) -> list[Project]:
    """Active projects the expert may work on, oldest first. ``levels`` (the expert's level by
    domain path) is read when not given."""
    levels = expertise_levels(expert=expert) if levels is None else levels
    candidates = (
        Project.objects.filter(status=Project.Status.ACTIVE, domain__path__in=list(levels))
        .select_related("domain")
        .order_by("created_at")
    )
    return [p for p in candidates if project_block(expert=expert, project=p, levels=levels) is None]
