"""``{% live_progress %}``: the logged-in expert's counts and earnings of today
(``rewards.live.expert_progress``), as the labelling page shows them; nothing for a person
without an expert profile. ``js/earnings_live.js`` keeps it up to date."""

from __future__ import annotations

from typing import Any

from django import template

from rewards.live import expert_progress
from rlhf_platform.experts.models import ExpertProfile

register = template.Library()


@register.inclusion_tag("rewards/_live_progress.html", takes_context=True)
def live_progress(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"progress": None}
    expert_id = ExpertProfile.objects.filter(user=user).values_list("pk", flat=True).first()
    return {"progress": expert_progress(expert_id=expert_id) if expert_id is not None else None}
