"""Adjudication: an item whose consensus stayed unsure after ``max_overlap`` labels is decided
by staff or by a top-level expert (level 4, authority, in the project's domain), never by
someone who labelled it (four eyes: ``four_eyes_own_labels``). The decision becomes the
item's consensus (method ``adjudicated``, confidence 1), the item is finalised, and the
decision is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label
from annotate.quality.consensus_update import ADJUDICATED, agreement_deltas
from annotate.quality.reputation import QualityDelta, deltas_apply
from rlhf_platform.accounts.roles import Action, principal_may
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.four_eyes import FourEyesRule, four_eyes_refuse
from rlhf_platform.experts.models import ExpertProfile, Level
from rlhf_platform.experts.selectors import expertise_levels

TOP_LEVEL = Level.AUTHORITY


def has_labelled(*, user: Any, item: Item) -> bool:
    return Label.objects.filter(item=item, expert__user_id=getattr(user, "pk", None)).exists()


def can_adjudicate(*, user: Any, item: Item) -> bool:
    """Staff (``item.adjudicate_any``), or an authority-level expert in the item's domain; in
    both cases only someone who has not labelled the item (four eyes)."""
    if has_labelled(user=user, item=item):
        return False
    if principal_may(user, Action.ITEM_ADJUDICATE_ANY):
        return True
    if not principal_may(user, Action.ITEM_ADJUDICATE):
        return False
    expert = ExpertProfile.objects.filter(user=user).first()
    if expert is None:
        return False
    return expertise_levels(expert=expert).get(item.project.domain.path, 0) >= TOP_LEVEL


def _decision_checked(item: Item, decision: dict[str, Any]) -> dict[str, Any]:
    schema = item.project.label_schema
    if schema["kind"] == "pairwise":
        choice = decision.get("choice")
        if choice not in schema.get("choices", []):
            raise ApplicationError(
                f"choice is one of {schema.get('choices')}.", code="invalid_choice", field="choice"
            )
        levels = len((schema.get("strength") or {}).get("levels") or [])
        strength = decision.get("strength")
        if strength is not None and (
            not levels
            or not isinstance(strength, int)
            or isinstance(strength, bool)
            or not 1 <= strength <= levels
        ):
            raise ApplicationError(
                f"strength is an integer from 1 to {levels}.", code="invalid", field="strength"
            )
        return {"choice": choice, "strength": strength, "ranking": None}
    ranking = decision.get("ranking")
    ids = sorted(str(r["id"]) for r in item.responses)
    if (
        not isinstance(ranking, list)
        or not all(isinstance(g, list) and g for g in ranking)
        or sorted(str(x) for g in ranking for x in g) != ids
    ):
        raise ApplicationError(
            "ranking is a list of groups of response ids, best first, placing every response once.",
            code="invalid",
            field="ranking",
        )
    return {"choice": "", "strength": None, "ranking": [[str(x) for x in g] for g in ranking]}


@transaction.atomic
def item_adjudicate(*, item: Item, actor: Any, decision: dict[str, Any], note: str = "") -> ItemConsensus:
    """Decide an item in adjudication (canonical terms: choice A = response 0, or a ranking of
    response ids) and finalise it."""
    from annotate.finalize import item_finalize

    item = Item.objects.select_for_update().select_related("project", "project__domain").get(pk=item.pk)
    if has_labelled(user=actor, item=item):
        four_eyes_refuse(
            rule=FourEyesRule.OWN_LABELS,
            actor=actor,
            target=item,
            message="You labelled this item: someone who did not must adjudicate it.",
        )
    if not can_adjudicate(user=actor, item=item):
        raise ApplicationError(
            "Only staff, or an authority-level expert of this domain who did not label it, may adjudicate.",
            code="permission_denied",
            status_code=403,
        )
    if item.state != Item.State.ADJUDICATION:
        raise ApplicationError(
            f"This item is {item.state}, not waiting for adjudication.",
            code="not_in_adjudication",
            status_code=409,
        )
    values = _decision_checked(item, decision)
    counted = Label.objects.filter(item=item, excluded_from_consensus=False).count()
    consensus, _ = ItemConsensus.objects.update_or_create(
        item=item,
        defaults={
            "method": ADJUDICATED,
            "choice": values["choice"] or "",
            "strength": values["strength"],
            "ranking": values["ranking"],
            "confidence": 1.0,
            "label_count": counted,
            "posterior": None,
            "computed_at": timezone.now(),
        },
    )
    agreement = agreement_deltas(item_id=item.pk, consensus=consensus)
    if agreement:
        hits = sum(h for h, _ in agreement.values())
        consensus.agreement = hits / len(agreement)
        consensus.save(update_fields=["agreement"])
    item_finalize(item=item)
    deltas: dict[Any, QualityDelta] = {}
    for expert_id, (hits, total) in agreement.items():
        deltas[expert_id] = QualityDelta(agreement_hits=hits, agreement_total=total)
    deltas_apply(project_id=item.project_id, deltas=deltas)
    audit_record(
        action="quality.adjudicate",
        target=item,
        actor=actor,
        data={"decision": values, "note": (note or "")[:2000], "labels": counted},
    )
    return consensus
