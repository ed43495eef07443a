"""The expert's quality page (``/me/quality/``): what the platform may tell them about their own
quality, in one place.

- per project: their standing (ok, warned, suspended) and their gold accuracy as the gold review
  page shows it (over graded gold items answered before today, from
  ``GOLD_ACCURACY_MIN_GRADED`` of them; "no gold yet" when none), never which items were gold;
- the retired gold items' answers stay on the gold review page, linked;
- their quality warnings (kept in the inbox);
- their suspensions with the reason and its evidence in words, and the appeal (the form is on
  the suspensions page, linked).
"""

from __future__ import annotations

from django.shortcuts import render

from annotate.models import AnnotatorQuality, ProjectSuspension
from annotate.quality.gold_pool import gold_accuracy
from annotate.quality.selectors import suspensions_for_expert
from annotate.quality.views_appeals import MY_SUSPENSIONS_LIMIT, evidence_summary
from rlhf_platform.accounts.inbox import inbox_for
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.web import action_required
from rlhf_platform.experts.selectors import expert_of_user

WARNINGS_SHOWN = 50
STATUS_WORDS = {
    AnnotatorQuality.Status.OK: "in good standing",
    AnnotatorQuality.Status.WARNED: "warned: your answers on check items fall below the project's standard",
    AnnotatorQuality.Status.SUSPENDED: "suspended",
}


@action_required(A.EXPERT_WORK)
def my_quality(request):
    expert = expert_of_user(request.user)
    context: dict = {"is_expert": expert is not None}
    if expert is not None:
        rows = (
            AnnotatorQuality.objects.filter(expert=expert).select_related("project").order_by("project__name")
        )
        context["projects"] = [
            {
                "project": row.project,
                "status": row.status,
                "status_words": STATUS_WORDS.get(row.status, row.status),
                "labels": row.labels,
                "gold": gold_accuracy(expert=expert, project=row.project),
            }
            for row in rows
        ]
        context["overall_gold"] = gold_accuracy(expert=expert)
        context["suspensions"] = [
            {
                "suspension": suspension,
                "evidence": evidence_summary(suspension),
                "appealable": suspension.active and suspension.appeal == ProjectSuspension.Appeal.NONE,
            }
            for suspension in suspensions_for_expert(expert_id=expert.pk)[:MY_SUSPENSIONS_LIMIT]
        ]
    context["warnings"] = list(inbox_for(user=request.user).filter(kind="quality.warning")[:WARNINGS_SHOWN])
    return render(request, "quality/my_quality.html", context)
