"""The adversarial crowd's accounts as the group detection sees them: log-ins and credential
files, and the groups it persisted.

- :func:`crowd_login` records log-in fingerprints through the real service
  (:func:`rlhf_platform.accounts.fingerprints.login_fingerprint_record`, what every log-in
  calls) and sets the account's credential evidence hash. The 10 accounts of a Sybil farm
  (``sybil_random``, ``sybil_copy``) log in from one device (the same address and user agent)
  and upload one evidence file, unless ``disguised`` (then each has its own, like everyone
  else: a farm run from separate devices with separate documents). Ring members are separate
  people: their own devices and files.
- :func:`group_flags` reads the persisted groups (:mod:`annotate.quality.groups`):
  ``{expert id: flagged}``, flagged while the account is a member of a suspected or confirmed
  group of the project.
- The detection runs inside ``project_model_fit`` (annotate/quality/model_fit.py);
  :func:`groups_detect` runs the whole fit, for callers that want detection at other times.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

FARMS = ("sybil_random", "sybil_copy")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


def _device(key: str) -> tuple[str, str]:
    """A stable (address, user agent) per key."""
    digest = hashlib.sha256(key.encode()).digest()
    address = f"10.{digest[0]}.{digest[1]}.{1 + digest[2] % 254}"
    return address, USER_AGENTS[digest[3] % len(USER_AGENTS)]


def crowd_login(
    account_expert: Any, population: str, index: int, rng: random.Random, disguised: bool
) -> None:
    """Record one log-in of the account (see the module's docstring) and give its credentials
    an evidence file hash. ``index``: the account's number in its population. ``rng`` is not
    drawn from: adding the call leaves the crowd's draws as they were (devices derive from the
    account)."""
    from django.test import RequestFactory

    from rlhf_platform.accounts.fingerprints import login_fingerprint_record
    from rlhf_platform.experts.models import Credential

    farm = population in FARMS and not disguised
    key = f"farm:{population}" if farm else f"{population}:{index}:{account_expert.pk}"
    address, user_agent = _device(key)
    request = RequestFactory().post("/login/", REMOTE_ADDR=address, HTTP_USER_AGENT=user_agent)
    login_fingerprint_record(request=request, user=account_expert.user)
    evidence = hashlib.sha256(f"evidence:{key}".encode()).hexdigest()
    Credential.objects.filter(expert=account_expert).update(evidence_sha256=evidence)


def group_flags(project: Any) -> dict[str, bool]:
    """``{expert id (text): True}`` for every member of a suspected or confirmed group of the
    project (accounts in no group are absent: read ``.get(id, False)``)."""
    from annotate.models import AnnotatorGroup, AnnotatorGroupMember

    rows = AnnotatorGroupMember.objects.filter(
        project=project,
        group__status__in=[AnnotatorGroup.Status.SUSPECTED, AnnotatorGroup.Status.CONFIRMED],
    ).values_list("expert_id", flat=True)
    return {str(expert_id): True for expert_id in rows}


def group_labels_at_flag(project: Any) -> dict[str, int]:
    """``{expert id: labels it had given in the project when it joined its group}``."""
    from annotate.models import AnnotatorGroupMember

    rows = AnnotatorGroupMember.objects.filter(project=project).values_list("expert_id", "labels_at_flag")
    out: dict[str, int] = {}
    for expert_id, labels in rows:
        out[str(expert_id)] = min(labels, out.get(str(expert_id), labels))
    return out


def groups_detect(project: Any) -> None:
    """Run the detection now (it is part of the project's fit)."""
    from annotate.quality.model_fit import project_model_fit

    project_model_fit(project_id=project.pk)


def group_summary(project: Any) -> list[dict[str, Any]]:
    """The project's groups: status, signals and member ids, for the bench's report."""
    from annotate.quality.groups import project_groups

    return [
        {
            "status": g.status,
            "signals": g.signals,
            "members": sorted(str(m.expert_id) for m in g.members.all()),
        }
        for g in project_groups(project_id=project.pk)
    ]
