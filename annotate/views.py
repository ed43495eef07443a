"""HTML pages of the annotate app: the expert's labelling workspace.

The page is a shell: ``static/js/label.js`` does the work through the expert's labelling API
(``/api/v1/queue/...``, ``/api/v1/assignments/...``), so the browser and scripts share one set
of rules and error messages.
"""

from __future__ import annotations

import uuid

from django.middleware.csrf import get_token
from django.shortcuts import render

from annotate.models import Project
from annotate.quality.gold_pool import gold_accuracy, gold_review
from annotate.queue import REPORT_REASONS, projects_open_to
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.web import action_required
from rlhf_platform.experts.models import ExpertProfile

# A stand-in the template reverses the assignment URLs with; label.js swaps in the real id.
ASSIGNMENT_PLACEHOLDER = uuid.UUID(int=0)

REPORT_REASON_LABELS = {
    "harmful": "Harmful or unsafe content",
    "broken": "Broken, garbled or truncated",
    "wrong_domain": "Not in this project's domain",
    "unanswerable": "Cannot be judged",
    "duplicate": "Duplicate of another item",
    "other": "Something else",
}


@action_required(A.EXPERT_WORK)
def label(request):
    expert = ExpertProfile.objects.select_related("user").filter(user=request.user).first()
    projects = projects_open_to(expert=expert) if expert is not None else []
    # An unknown or closed project still goes to the API, which says why it has nothing.
    try:
        selected = str(uuid.UUID(request.GET.get("project", "")))
    except ValueError:
        selected = ""
    context = {
        "is_expert": expert is not None,
        "projects": projects,
        "selected_project": selected,
        # named in the menu even when not open to the expert (the queue then says why)
        "selected_project_name": (
            Project.objects.filter(pk=selected).values_list("name", flat=True).first() if selected else ""
        )
        or "",
        "placeholder": ASSIGNMENT_PLACEHOLDER,
        "csrf_value": get_token(request),
        "report_reasons": [(code, REPORT_REASON_LABELS.get(code, code)) for code in REPORT_REASONS],
    }
    return render(request, "annotate/label.html", context)


@action_required(A.EXPERT_GOLD_REVIEW)
def gold_review_page(request):
    """The expert's gold review: retired gold items they answered, with the expected answer,
    the explanation and their grade; and their gold accuracy (from enough graded golds on)."""
    expert = ExpertProfile.objects.filter(user=request.user).first()
    context = {
        "is_expert": expert is not None,
        "accuracy": gold_accuracy(expert=expert) if expert is not None else None,
        "review": gold_review(expert=expert) if expert is not None else [],
    }
    return render(request, "annotate/gold_review.html", context)
