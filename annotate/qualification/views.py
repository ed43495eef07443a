"""HTML pages of qualification exams: the expert's list of exams, and taking one.

Taking an exam is the labelling page's workspace (``static/js/label.js``) pointed at the exam
API: the same shuffled, neutral A/B (or ranking) form, without lease, skip or report.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.qualification.selectors import (
    access_attempt_for_expert,
    access_exam_for_expert,
    exam_standing,
    exams_open_to,
)
from annotate.qualification.services import exam_attempt_start
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, raise_as_http
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expert_of_user

# A stand-in the template reverses the answer URL with; label.js swaps in the question's id.
PLACEHOLDER = uuid.UUID(int=0)


def _expert(request) -> ExpertProfile | None:
    return expert_of_user(request.user)


@action_required(A.EXPERT_WORK)
def exam_list(request):
    expert = _expert(request)
    standings = [exam_standing(exam=e, expert=expert) for e in exams_open_to(expert=expert)] if expert else []
    return render(
        request, "qualification/exam_list.html", {"standings": standings, "is_expert": bool(expert)}
    )


@action_required(A.EXPERT_WORK)
@require_POST
def exam_start(request, exam_id):
    expert = _expert(request)
    if expert is None:
        raise Http404("Only experts take exams.")
    try:
        exam = access_exam_for_expert(expert=expert, exam_id=exam_id)
        attempt, _created = exam_attempt_start(exam=exam, expert=expert)
    except ApplicationError as exc:
        if exc.status_code in (403, 404):
            raise_as_http(exc)
        messages.error(request, exc.message)
        return redirect("exams")
    return redirect("exam-take", attempt_id=attempt.pk)


@action_required(A.EXPERT_WORK)
def exam_take(request, attempt_id):
    expert = _expert(request)
    if expert is None:
        raise Http404("Only experts take exams.")
    try:
        attempt = access_attempt_for_expert(expert=expert, attempt_id=attempt_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    context = {
        "attempt": attempt,
        "exam": attempt.exam,
        "placeholder": PLACEHOLDER,
        "csrf_value": get_token(request),
    }
    return render(request, "qualification/exam_take.html", context)
