"""Reads of expertise. Levels are derived here from credentials, never stored.

A credential counts for its own domain and for every domain above it: a cardiologist's
licence (medicine/cardiology) makes them eligible for a medicine project, but a general
medical degree (medicine) does not make anyone a cardiologist.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Credential, Domain, ExpertProfile


def expert_of_user(user) -> ExpertProfile | None:
    """The user's expert profile, or None. The authentication backend loads it with the user,
    so for the request's user this is no query."""
    try:
        return user.expert_profile
    except ExpertProfile.DoesNotExist:
        return None


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.now().date()


def credentials_in_force(*, today: dt.date | None = None) -> QuerySet[Credential]:
    """Approved credentials that have not expired: the only ones that count.

    The date test is here as well as in the expiry job, so an expired credential stops
    counting at midnight UTC of its expiry date even if the job has not run.
    """
    today = _today(today)
    return Credential.objects.filter(status=Credential.Status.APPROVED).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=today)
    )


def _under(domain: Domain, prefix: str = "domain__") -> Q:
    return Q(**{f"{prefix}path": domain.path}) | Q(**{f"{prefix}path__startswith": domain.path + "/"})


def expertise_level(*, expert: ExpertProfile, domain: Domain, today: dt.date | None = None) -> int:
    """The expert's level in ``domain`` (0 when none): the highest level of a credential in
    force in that domain or below it."""
    level = (
        credentials_in_force(today=today)
        .filter(expert=expert)
        .filter(_under(domain))
        .aggregate(level=Max("level"))["level"]
    )
    return level or 0


def expertise_levels_in_domain(*, expert_ids: list, domain: Domain, today: dt.date | None = None) -> dict:
    """Each listed expert's level in ``domain`` (as :func:`expertise_level`), in one query;
    experts without one are left out."""
    rows = (
        credentials_in_force(today=today)
        .filter(expert_id__in=expert_ids)
        .filter(_under(domain))
        .values("expert_id")
        .annotate(level=Max("level"))
        .values_list("expert_id", "level")
    )
    return {expert_id: level for expert_id, level in rows if level}


def expertise_levels(*, expert: ExpertProfile, today: dt.date | None = None) -> dict[str, int]:
    """Every domain path the expert has a level in, with that level (ancestors included)."""
    levels: dict[str, int] = {}
    rows = credentials_in_force(today=today).filter(expert=expert).values_list("domain__path", "level")
    for path, level in rows:
        parts = path.split("/")
        for i in range(len(parts)):
            ancestor = "/".join(parts[: i + 1])
            levels[ancestor] = max(levels.get(ancestor, 0), level)
    return dict(sorted(levels.items()))


def experts_eligible(
    *, domain: Domain, min_level: int, today: dt.date | None = None
) -> QuerySet[ExpertProfile]:
    """Experts who may work in ``domain`` at ``min_level`` or above: active, not suspended,
    with a credential in force at that level in the domain or below it. The queue filters
    on this (and adds its own conditions: qualification, project suspension, budget)."""
    qualifying = credentials_in_force(today=today).filter(
        _under(domain), expert=OuterRef("pk"), level__gte=min_level
    )
    return ExpertProfile.objects.filter(Exists(qualifying), suspended_at__isnull=True, user__is_active=True)


def expert_is_eligible(
    *, expert: ExpertProfile, domain: Domain, min_level: int, today: dt.date | None = None
) -> bool:
    return experts_eligible(domain=domain, min_level=min_level, today=today).filter(pk=expert.pk).exists()


def credentials_of_expert(*, expert: ExpertProfile) -> QuerySet[Credential]:
    """An expert's own credentials, newest first (their profile page)."""
    return Credential.objects.filter(expert=expert).select_related("domain").order_by("-created_at")


def credentials_for_review(*, status: str | None = Credential.Status.SUBMITTED) -> QuerySet[Credential]:
    """The staff review queue: oldest first, so nobody waits behind later submissions."""
    qs = Credential.objects.select_related("expert__user", "domain", "reviewed_by")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("created_at")


def access_credential_for_expert(*, expert: ExpertProfile, credential_id) -> Credential:
    credential = Credential.objects.select_related("domain").filter(expert=expert, pk=credential_id).first()
    if credential is None:
        raise ApplicationError("Credential not found.", code="not_found", status_code=404)
    return credential


def access_credential_for_staff(*, credential_id) -> Credential:
    credential = Credential.objects.select_related("domain", "expert__user").filter(pk=credential_id).first()
    if credential is None:
        raise ApplicationError("Credential not found.", code="not_found", status_code=404)
    return credential


def access_domain_by_path(*, path: str, field: str = "domain") -> Domain:
    """The domain at ``path`` (``medicine/cardiology``), or a 400 naming ``field``."""
    domain = Domain.objects.filter(path=path).first()
    if domain is None:
        raise ApplicationError(f"Unknown domain {path!r}.", code="does_not_exist", field=field)
    return domain


def domains_active() -> QuerySet[Domain]:
    return Domain.objects.filter(is_active=True).order_by("path")
