"""Reads of exams and qualifications, and the queue's ``not_qualified`` gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from annotate.models import Project
from annotate.qualification.models import Exam, ExamAttempt, Qualification
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expertise_levels


def qualifications_valid(*, expert_id: int) -> QuerySet[Qualification]:
    return Qualification.objects.filter(expert_id=expert_id, revoked_at__isnull=True)


def qualification_covers(*, expert_id: int, project: Project) -> bool:
    """A valid qualification for the project itself, or for its domain or a domain above it
    (a medicine exam qualifies for cardiology projects; a cardiology exam not for medicine)."""
    return (
        qualifications_valid(expert_id=expert_id)
        .filter(Q(project_id=project.pk) | Q(domain__path__in=project.domain.ancestor_paths()))
        .exists()
    )


GATE_MESSAGES = {
    "not_qualified": "This project asks you to pass its qualification exam first.",
    "qualification_unavailable": "This project asks for a qualification, and no exam for it is open yet.",
}


def qualification_gate(expert: ExpertProfile, project: Project) -> str | None:
    """Registered as the queue gate ``not_qualified`` (annotate.gates). An expert without the
    qualification is told apart from one who cannot get it yet: a project that requires a
    qualification while no active exam covers it (its own, or one of its domain or a domain
    above) answers ``qualification_unavailable``, so that nobody is sent to look for an exam
    that does not exist."""
    if not project.requires_qualification:
        return None
    if qualification_covers(expert_id=expert.pk, project=project):
        return None
    return "not_qualified" if exam_available(project=project) else "qualification_unavailable"


def exam_available(*, project: Project) -> bool:
    """Whether an active exam can qualify experts for the project."""
    return (
        Exam.objects.filter(is_active=True)
        .filter(Q(project_id=project.pk) | Q(domain__path__in=project.domain.ancestor_paths()))
        .exists()
    )


def _exam_targets_expert(exam: Exam, levels: dict[str, int]) -> bool:
    if exam.project_id is not None:
        project = exam.project
        return project.status == Project.Status.ACTIVE and levels.get(project.domain.path, 0) >= max(
            project.min_level, 1
        )
    return levels.get(exam.domain.path, 0) >= 1


def exams_open_to(*, expert: ExpertProfile) -> list[Exam]:
    """Active exams the expert may take: a project exam of an active project whose domain and
    level the expert's credentials meet; a domain exam of a domain they hold a level in."""
    levels = expertise_levels(expert=expert)
    exams = (
        Exam.objects.filter(is_active=True)
        .filter(Q(project__domain__path__in=list(levels)) | Q(domain__path__in=list(levels)))
        .select_related("project", "project__domain", "domain")
        .order_by("created_at")
    )
    return [exam for exam in exams if _exam_targets_expert(exam, levels)]


def access_exam_for_expert(*, expert: ExpertProfile, exam_id) -> Exam:
    exam = next((e for e in exams_open_to(expert=expert) if e.pk == exam_id), None)
    if exam is None:
        raise ApplicationError("Exam not found.", code="not_found", status_code=404)
    return exam


def access_attempt_for_expert(*, expert: ExpertProfile, attempt_id) -> ExamAttempt:
    attempt = (
        ExamAttempt.objects.select_related("exam", "exam__project", "exam__domain")
        .filter(pk=attempt_id, expert=expert)
        .first()
    )
    if attempt is None:
        raise ApplicationError("Attempt not found.", code="not_found", status_code=404)
    return attempt


def exam_qualified(*, exam: Exam, expert_id: int) -> bool:
    valid = qualifications_valid(expert_id=expert_id)
    if exam.project_id is not None:
        return valid.filter(project_id=exam.project_id).exists()
    return valid.filter(domain_id=exam.domain_id).exists()


def exam_retry_at(*, exam: Exam, expert_id: int) -> datetime | None:
    """When the expert may start the exam again after a failed attempt (None: no wait)."""
    last = (
        ExamAttempt.objects.filter(exam=exam, expert_id=expert_id, finished_at__isnull=False)
        .order_by("-finished_at")
        .first()
    )
    if last is None or last.passed:
        return None
    return last.finished_at + timedelta(seconds=exam.retry_delay_seconds)


def exam_open_attempt(*, exam: Exam, expert_id: int) -> ExamAttempt | None:
    return ExamAttempt.objects.filter(exam=exam, expert_id=expert_id, finished_at__isnull=True).first()


@dataclass(frozen=True)
class ExamStanding:
    exam: Exam
    qualified: bool
    open_attempt: ExamAttempt | None
    retry_at: datetime | None
    question_count: int


def exam_standing(*, exam: Exam, expert: ExpertProfile) -> ExamStanding:
    count = exam.questions.count()
    return ExamStanding(
        exam=exam,
        qualified=exam_qualified(exam=exam, expert_id=expert.pk),
        open_attempt=exam_open_attempt(exam=exam, expert_id=expert.pk),
        retry_at=exam_retry_at(exam=exam, expert_id=expert.pk),
        question_count=min(count, exam.max_questions or count),
    )
