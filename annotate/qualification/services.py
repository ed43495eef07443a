"""Every change of state of exams: create, start, show a question, answer, finish, revoke.

Leaks. A question copied from one of the project's gold items must not come back to the same
expert as a gold audit in the queue (they would recognise it, and a later gold answer would
not be independent). When such a question is shown, the expert is given a closed assignment of
that item (status ``released``, ``closed_reason`` = :data:`EXAM_REASON`): the queue's unique
(item, expert) key then never serves it to them. The other way round, an attempt leaves out
questions whose item the expert already met in the queue (where gold feedback may have shown
the answer). The result of an attempt gives the score only, never the expected answers.
"""

from __future__ import annotations

import random
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.ingest.validate import ItemValidator
from annotate.labels import label_from_display
from annotate.models import Assignment, Item, Project
from annotate.qualification.models import Exam, ExamAnswer, ExamAttempt, ExamQuestion, Qualification
from annotate.qualification.selectors import exam_open_attempt, exam_qualified, exam_retry_at
from annotate.quality.gold import gold_grade
from annotate.schema import DEFAULT_SCHEMA, schema_normalize, schema_validate
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Domain, ExpertProfile

EXAM_REASON = "qualification exam question"
MAX_QUESTIONS = 200
_random = random.SystemRandom()


def _questions_from_records(*, schema: dict[str, Any], records: list[Any]) -> list[ExamQuestion]:
    validator = ItemValidator(schema=schema)
    questions: list[ExamQuestion] = []
    errors: dict[str, list[ValidationError]] = {}
    for index, record in enumerate(records):
        parsed, problems = validator.check_object(index + 1, record)
        if not problems and parsed is not None and parsed.gold is None:
            errors.setdefault(f"items.{index}.gold", []).append(
                ValidationError("Every exam question needs its gold answer.", code="required")
            )
            continue
        for problem in problems:
            name = f"items.{index}.{problem.field}" if problem.field else f"items.{index}"
            errors.setdefault(name, []).append(ValidationError(problem.message, code=problem.code))
        if problems or parsed is None:
            continue
        item = record if isinstance(record, dict) else {}
        questions.append(
            ExamQuestion(
                position=index,
                prompt=item["prompt"],
                responses=[
                    {"id": r["id"], "model": r.get("model", ""), "text": r["text"]} for r in item["responses"]
                ],
                gold=parsed.gold,
            )
        )
    if errors:
        raise ValidationError(errors)
    return questions


@transaction.atomic
def exam_create(
    *,
    name: str,
    project: Project | None = None,
    domain: Domain | None = None,
    label_schema: dict[str, Any] | None = None,
    instructions: str = "",
    pass_mark: float = 0.8,
    retry_delay_seconds: int = 86_400,
    max_questions: int | None = None,
    items: list[Any] | None = None,
    gold_item_ids: list[str] | None = None,
    actor: Any = None,
    api_key: Any = None,
) -> Exam:
    """An exam for ``project`` (questions given as ``items``, or copied from the project's
    gold items: those named by ``gold_item_ids``, else all of them) or for ``domain``
    (questions given as ``items``, answered on ``label_schema``). It replaces the target's
    active exam, if any; earlier attempts and qualifications stay."""
    if (project is None) == (domain is None):
        raise ApplicationError("An exam is for a project or for a domain.", code="invalid")
    if not 0 < pass_mark <= 1:
        raise ApplicationError("pass_mark is a share above 0, at most 1.", code="invalid", field="pass_mark")
    if project is not None:
        schema = project.label_schema
        if label_schema is not None:
            raise ApplicationError(
                "A project exam uses the project's label schema.", code="invalid", field="label_schema"
            )
    else:
        schema = label_schema or DEFAULT_SCHEMA
        problems = schema_validate(schema)
        if problems:
            raise ApplicationError(problems[0].message, code=problems[0].code, field=problems[0].field)
        schema = schema_normalize(schema)
    if items is not None and gold_item_ids is not None:
        raise ApplicationError("Give items or gold_item_ids, not both.", code="invalid", field="items")
    if items is not None:
        if not items or len(items) > MAX_QUESTIONS:
            raise ApplicationError(f"Give 1 to {MAX_QUESTIONS} items.", code="invalid", field="items")
        questions = _questions_from_records(schema=schema, records=items)
    elif project is None:
        raise ApplicationError("A domain exam needs its items.", code="required", field="items")
    else:
        golds = Item.objects.filter(project=project, is_gold=True).order_by("id")
        if gold_item_ids is not None:
            golds = golds.filter(external_id__in=gold_item_ids)
            found = set(golds.values_list("external_id", flat=True))
            missing = [external_id for external_id in gold_item_ids if external_id not in found]
            if missing:
                raise ApplicationError(
                    f"Not gold items of this project: {missing[:10]}.",
                    code="unknown_gold_item",
                    field="gold_item_ids",
                )
        golds = list(golds[:MAX_QUESTIONS])
        if not golds:
            raise ApplicationError(
                "The project has no gold items to build an exam from; upload some or send items.",
                code="no_gold_items",
                field="gold_item_ids",
            )
        questions = [
            ExamQuestion(
                position=index, source_item=item, prompt=item.prompt, responses=item.responses, gold=item.gold
            )
            for index, item in enumerate(golds)
        ]
    if max_questions is not None and not 1 <= max_questions <= len(questions):
        raise ApplicationError(
            f"max_questions is from 1 to the number of questions ({len(questions)}).",
            code="invalid",
            field="max_questions",
        )
    target = {"project": project} if project is not None else {"domain": domain}
    Exam.objects.select_for_update().filter(is_active=True, **target).update(is_active=False)
    exam = Exam.objects.create(
        name=name,
        instructions=instructions,
        label_schema=schema,
        pass_mark=pass_mark,
        retry_delay_seconds=retry_delay_seconds,
        max_questions=max_questions,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_by_key=api_key,
        **target,
    )
    for question in questions:
        question.exam = exam
    ExamQuestion.objects.bulk_create(questions)
    audit_record(
        action="exam.create",
        target=exam,
        actor=actor,
        api_key=api_key,
        data={
            "project": str(project.pk) if project else None,
            "domain": domain.path if domain else None,
            "questions": len(questions),
            "pass_mark": pass_mark,
        },
    )
    return exam


@transaction.atomic
def exam_attempt_start(*, exam: Exam, expert: ExpertProfile) -> tuple[ExamAttempt, bool]:
    """Start an attempt, or return the one in progress. Refused when already qualified (409)
    or before the retry delay after a failed attempt has passed (429, with ``retry_at``)."""
    # Serialise one expert's starts: the open-attempt key is the guarantee, this the courtesy.
    ExpertProfile.objects.select_for_update().filter(pk=expert.pk).first()
    current = exam_open_attempt(exam=exam, expert_id=expert.pk)
    if current is not None:
        return current, False
    if exam_qualified(exam=exam, expert_id=expert.pk):
        raise ApplicationError(
            "You are already qualified by this exam.", code="already_qualified", status_code=409
        )
    retry_at = exam_retry_at(exam=exam, expert_id=expert.pk)
    if retry_at is not None and retry_at > timezone.now():
        raise ApplicationError(
            f"You can retake this exam from {retry_at:%Y-%m-%d %H:%M} UTC.",
            code="retry_too_soon",
            status_code=429,
            extra={"retry_at": retry_at.isoformat()},
        )
    questions = list(exam.questions.order_by("position").values_list("pk", "source_item_id"))
    seen_in_queue = set(
        Assignment.objects.filter(expert=expert, item_id__in=[s for _q, s in questions if s])
        .exclude(closed_reason=EXAM_REASON)
        .values_list("item_id", flat=True)
    )
    fresh = [q for q, source in questions if source not in seen_in_queue]
    # Every question already met in the queue: ask them anyway rather than never qualify.
    chosen = (fresh or [q for q, _s in questions])[: exam.max_questions or None]
    attempt = ExamAttempt.objects.create(exam=exam, expert=expert, question_ids=chosen, total=len(chosen))
    return attempt, True


def _exam_assignment(*, question: ExamQuestion, expert: ExpertProfile, shown_order: list[int]) -> None:
    item = question.source_item
    if item is None:
        return
    now = timezone.now()
    try:
        with transaction.atomic():
            Assignment.objects.get_or_create(
                item=item,
                expert=expert,
                defaults={
                    "project_id": item.project_id,
                    "is_gold": item.is_gold,
                    "slot": None,
                    "shown_order": shown_order,
                    "status": Assignment.Status.RELEASED,
                    "leased_at": now,
                    "expires_at": now,
                    "closed_reason": EXAM_REASON,
                },
            )
    except IntegrityError:
        pass  # the queue or a parallel request made one: the item is kept from them either way


@transaction.atomic
def exam_question_current(*, attempt: ExamAttempt) -> ExamAnswer | None:
    """The question to answer now (shown once with its own shuffled order), or None when the
    attempt is finished."""
    if attempt.finished_at is not None:
        return None
    answered = attempt.answers.filter(answered_at__isnull=False).count()
    if answered >= attempt.total:
        return None
    existing = attempt.answers.select_related("question").filter(position=answered).first()
    if existing is not None:
        return existing
    question = ExamQuestion.objects.select_related("source_item").get(pk=attempt.question_ids[answered])
    order = list(range(len(question.responses)))
    _random.shuffle(order)
    try:
        with transaction.atomic():
            answer = ExamAnswer.objects.create(
                attempt=attempt, question=question, position=answered, shown_order=order
            )
    except IntegrityError:
        # A second tab showed it a moment ago: the same order for both.
        return attempt.answers.select_related("question").get(position=answered)
    _exam_assignment(question=question, expert=attempt.expert, shown_order=order)
    return answer


def access_answer_for_expert(*, expert: ExpertProfile, answer_id) -> ExamAnswer:
    answer = (
        ExamAnswer.objects.select_related("attempt", "attempt__exam", "question")
        .filter(pk=answer_id, attempt__expert=expert)
        .first()
    )
    if answer is None:
        raise ApplicationError("Question not found.", code="not_found", status_code=404)
    return answer


@transaction.atomic
def exam_answer_submit(
    *, answer: ExamAnswer, expert: ExpertProfile, payload: dict[str, Any], client_id: str
) -> tuple[ExamAnswer, bool]:
    """Grade the answer to a shown question; finish the attempt after its last question.
    Returns (answer, created); a retry with the same ``client_id`` is not a second answer."""
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 100:
        raise ApplicationError(
            "Send a client_id (1 to 100 characters) with each answer.", code="required", field="client_id"
        )
    answer = ExamAnswer.objects.select_for_update().select_related("attempt", "question").get(pk=answer.pk)
    attempt = answer.attempt
    if attempt.expert_id != expert.pk:
        raise ApplicationError("Question not found.", code="not_found", status_code=404)
    if answer.answered_at is not None:
        if answer.client_id == client_id:
            return answer, False
        raise ApplicationError("This question is already answered.", code="already_answered", status_code=409)
    if attempt.finished_at is not None:
        raise ApplicationError("This attempt is finished.", code="attempt_finished", status_code=409)
    question = answer.question
    label = label_from_display(
        schema=attempt.exam.label_schema,
        payload=payload,
        shown_order=answer.shown_order,
        responses=question.responses,
    )
    answer.client_id = client_id
    answer.choice = label.choice
    answer.strength = label.strength
    answer.ranking = label.ranking
    answer.criteria = label.criteria
    answer.rationale = label.rationale
    answer.active_seconds = label.active_seconds
    answer.answered_at = timezone.now()
    answer.correct = gold_grade(
        gold=question.gold, choice=label.choice, strength=label.strength, ranking=label.ranking
    )
    answer.save()
    if answer.correct:
        ExamAttempt.objects.filter(pk=attempt.pk).update(correct=attempt.correct + 1)
        attempt.correct += 1
    if attempt.answers.filter(answered_at__isnull=False).count() >= attempt.total:
        exam_attempt_finish(attempt=attempt)
    return answer, True


def exam_attempt_finish(*, attempt: ExamAttempt) -> ExamAttempt:
    """Score the attempt; a pass grants the qualification (audited)."""
    attempt = ExamAttempt.objects.select_for_update().select_related("exam").get(pk=attempt.pk)
    if attempt.finished_at is not None:
        return attempt
    exam = attempt.exam
    attempt.correct = attempt.answers.filter(correct=True).count()
    attempt.score = attempt.correct / attempt.total if attempt.total else 0.0
    # A small tolerance: 4 of 5 at a pass mark of 0.8 is a pass whatever the float rounding.
    attempt.passed = attempt.score + 1e-9 >= exam.pass_mark
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["correct", "score", "passed", "finished_at"])
    audit_record(
        action="exam.attempt_finish",
        target=attempt,
        data={
            "exam": str(exam.pk),
            "expert": str(attempt.expert_id),
            "score": attempt.score,
            "passed": attempt.passed,
        },
    )
    if attempt.passed and not exam_qualified(exam=exam, expert_id=attempt.expert_id):
        qualification = Qualification.objects.create(
            expert_id=attempt.expert_id, project=exam.project, domain=exam.domain, attempt=attempt
        )
        audit_record(
            action="qualification.grant",
            target=qualification,
            data={
                "expert": str(attempt.expert_id),
                "project": str(exam.project_id) if exam.project_id else None,
                "domain": exam.domain.path if exam.domain_id else None,
                "attempt": str(attempt.pk),
            },
        )
    return attempt


@transaction.atomic
def qualification_revoke(*, qualification: Qualification, actor: Any, reason: str) -> Qualification:
    qualification = Qualification.objects.select_for_update().get(pk=qualification.pk)
    if qualification.revoked_at is not None:
        raise ApplicationError(
            "This qualification is already revoked.", code="already_revoked", status_code=409
        )
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the qualification is revoked.", code="required", field="reason")
    qualification.revoked_at = timezone.now()
    qualification.revoked_by = actor
    qualification.revoke_reason = reason[:500]
    qualification.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    # Leases the expert holds in the projects this covered end now: the queue's sweeper frees
    # their slots as for any lapsed lease.
    projects = Project.objects.filter(requires_qualification=True)
    if qualification.project_id:
        projects = projects.filter(pk=qualification.project_id)
    else:
        path = qualification.domain.path
        projects = projects.filter(Q(domain__path=path) | Q(domain__path__startswith=path + "/"))
    lapsed = Assignment.objects.filter(
        expert_id=qualification.expert_id,
        project__in=projects,
        status=Assignment.Status.ACTIVE,
        expires_at__gt=qualification.revoked_at,
    ).update(expires_at=qualification.revoked_at)
    audit_record(
        action="qualification.revoke",
        target=qualification,
        actor=actor,
        data={
            "expert": str(qualification.expert_id),
            "reason": qualification.revoke_reason,
            "leases_ended": lapsed,
        },
    )
    return qualification
