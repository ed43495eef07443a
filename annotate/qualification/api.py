"""REST endpoints of qualification exams.

Experts (session): the exams open to them, start an attempt, the current question (the shape
of a queue assignment: prompt, responses lettered A, B, ... in a shuffled order, schema),
answer it, the result. Labs (API key, their own projects) and staff: create an exam, list
attempts. Staff: list and revoke qualifications. Labs see experts only by pseudonym.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.api_queue import label_payload, request_expert
from annotate.guidelines import guidelines_render
from annotate.labels import LETTERS
from annotate.models import Project
from annotate.qualification.models import Exam, ExamAttempt, Qualification
from annotate.qualification.selectors import (
    access_attempt_for_expert,
    access_exam_for_expert,
    exam_retry_at,
    exam_standing,
    exams_open_to,
)
from annotate.qualification.services import (
    access_answer_for_expert,
    exam_answer_submit,
    exam_attempt_start,
    exam_create,
    exam_question_current,
    qualification_revoke,
)
from annotate.rendering import prompt_html, render_markdown
from annotate.selectors import access_project_for_lab
from rlhf_platform.accounts.permissions import Allows
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.lab_api import LabAPIView
from rlhf_platform.core.openapi import results_of
from rlhf_platform.core.serializers import InputSerializer
from rlhf_platform.experts.selectors import access_domain_by_path

# --- Output shapes ------------------------------------------------------------------------


class ExamOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    project = serializers.UUIDField(source="project_id", allow_null=True)
    domain = serializers.SerializerMethodField()
    instructions = serializers.CharField()
    label_schema = serializers.JSONField()
    pass_mark = serializers.FloatField()
    retry_delay_seconds = serializers.IntegerField()
    max_questions = serializers.IntegerField(allow_null=True)
    question_count = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_domain(self, exam) -> str:
        return exam.project.domain.path if exam.project_id else exam.domain.path

    def get_question_count(self, exam) -> int:
        return exam.questions.count()


class ExamForExpertSerializer(serializers.Serializer):
    """An exam as its candidate sees it, with where they stand."""

    def to_representation(self, standing):
        exam = standing.exam
        return {
            "id": str(exam.pk),
            "name": exam.name,
            "project": {"id": str(exam.project_id), "name": exam.project.name} if exam.project_id else None,
            "domain": exam.project.domain.path if exam.project_id else exam.domain.path,
            "instructions_html": guidelines_render(exam.instructions),
            "pass_mark": exam.pass_mark,
            "retry_delay_seconds": exam.retry_delay_seconds,
            "question_count": standing.question_count,
            "qualified": standing.qualified,
            "attempt_in_progress": str(standing.open_attempt.pk) if standing.open_attempt else None,
            "retry_at": standing.retry_at.isoformat() if standing.retry_at else None,
        }


class AttemptResultSerializer(serializers.Serializer):
    """Documents :func:`attempt_result` (the result fields are null until the attempt ends)."""

    id = serializers.UUIDField()
    exam = serializers.UUIDField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    correct = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    pass_mark = serializers.FloatField()
    passed = serializers.BooleanField(allow_null=True)
    retry_at = serializers.DateTimeField(allow_null=True, help_text="After a failure: when to retry.")


class AttemptRowSerializer(AttemptResultSerializer):
    expert = serializers.CharField(help_text="The expert's pseudonym.")


class StaffAttemptRowSerializer(AttemptRowSerializer):
    expert_email = serializers.EmailField()


class AnswerOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    attempt = AttemptResultSerializer()


class ExamGuidelinesOutputSerializer(serializers.Serializer):
    exam = serializers.UUIDField()
    name = serializers.CharField()
    guidelines_html = serializers.CharField()


def attempt_result(attempt: ExamAttempt) -> dict:
    answered = attempt.answers.filter(answered_at__isnull=False).count()
    retry_at = None
    if attempt.finished_at is not None and not attempt.passed:
        retry_at = exam_retry_at(exam=attempt.exam, expert_id=attempt.expert_id)
    return {
        "id": str(attempt.pk),
        "exam": str(attempt.exam_id),
        "started_at": attempt.started_at.isoformat(),
        "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        "answered": answered,
        "total": attempt.total,
        "correct": attempt.correct if attempt.finished_at else None,
        "score": attempt.score,
        "pass_mark": attempt.exam.pass_mark,
        "passed": attempt.passed,
        "retry_at": retry_at.isoformat() if retry_at else None,
    }


def question_output(answer) -> dict:
    """The shape of a queue assignment, so the labelling page renders it unchanged; no gold
    answer, no model names, no response ids."""
    attempt = answer.attempt
    exam = attempt.exam
    question = answer.question
    return {
        "id": str(answer.pk),
        "attempt": str(attempt.pk),
        "position": answer.position + 1,
        "total": attempt.total,
        "project": {
            "id": str(exam.pk),
            "name": exam.name,
            "guidelines_url": f"/api/v1/exams/{exam.pk}/guidelines",
        },
        "prompt": question.prompt,
        "prompt_html": prompt_html(question.prompt),
        "responses": [
            {
                "label": LETTERS[p],
                "text": question.responses[index]["text"],
                "html": render_markdown(question.responses[index]["text"]),
            }
            for p, index in enumerate(answer.shown_order)
        ],
        "label_schema": exam.label_schema,
        "status": "answered" if answer.answered_at else "active",
        "leased_at": answer.shown_at.isoformat(),
        "expires_at": None,
        "lease_seconds": None,
    }


def _finished_message(attempt: ExamAttempt) -> str:
    result = attempt_result(attempt)
    verdict = "You passed" if attempt.passed else "Not passed this time"
    mark = round(attempt.exam.pass_mark * 100)
    text = f"{verdict}: {attempt.correct} of {attempt.total} right (pass mark {mark}%)."
    if result["retry_at"]:
        text += f" You can try again from {result['retry_at'][:16].replace('T', ' ')} UTC."
    return text


# --- The expert -----------------------------------------------------------------------------


class ExamListApi(APIView):
    """Exams open to the logged-in expert, with whether they are qualified, an attempt in
    progress and when they may retry."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: results_of(ExamForExpertSerializer)})
    def get(self, request):
        expert = request_expert(request)
        rows = [exam_standing(exam=exam, expert=expert) for exam in exams_open_to(expert=expert)]
        return Response({"results": ExamForExpertSerializer(rows, many=True).data})


class ExamGuidelinesApi(APIView):
    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: ExamGuidelinesOutputSerializer})
    def get(self, request, exam_id):
        exam = access_exam_for_expert(expert=request_expert(request), exam_id=exam_id)
        text = exam.instructions or (exam.project.guidelines if exam.project_id else "")
        return Response({"exam": str(exam.pk), "name": exam.name, "guidelines_html": guidelines_render(text)})


class ExamAttemptStartApi(APIView):
    """Start an attempt (201), or get the one in progress (200). 409 ``already_qualified``;
    429 ``retry_too_soon`` with ``retry_at`` before the retry delay after a failure is over."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(request=None, responses={201: AttemptResultSerializer, 200: AttemptResultSerializer})
    def post(self, request, exam_id):
        expert = request_expert(request)
        exam = access_exam_for_expert(expert=expert, exam_id=exam_id)
        attempt, created = exam_attempt_start(exam=exam, expert=expert)
        return Response(attempt_result(attempt), status=201 if created else 200)


class ExamAttemptApi(APIView):
    """The attempt's progress, and once finished its result: score, passed, retry_at."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: AttemptResultSerializer})
    def get(self, request, attempt_id):
        attempt = access_attempt_for_expert(expert=request_expert(request), attempt_id=attempt_id)
        return Response(attempt_result(attempt))


class ExamQuestionApi(APIView):
    """The question to answer now. 204 once the attempt is finished, with ``Queue-Reason:
    exam_finished`` and the result in ``Queue-Reason-Message`` (as the queue says why it has
    nothing)."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(responses={200: dict, 204: OpenApiResponse(description="Attempt finished.")})
    def get(self, request, attempt_id):
        attempt = access_attempt_for_expert(expert=request_expert(request), attempt_id=attempt_id)
        answer = exam_question_current(attempt=attempt)
        if answer is None:
            attempt.refresh_from_db()
            return Response(
                status=status.HTTP_204_NO_CONTENT,
                headers={"Queue-Reason": "exam_finished", "Queue-Reason-Message": _finished_message(attempt)},
            )
        return Response(question_output(answer))


class ExamAnswerApi(APIView):
    """Answer a question in the letters shown (the body of an assignment submit, with its
    ``client_id``). 201 first time, 200 for a retry with the same client_id, 409
    ``already_answered``. The answer's correctness is not revealed until the result."""

    permission_classes = [Allows(A.EXPERT_WORK)]

    @extend_schema(request=dict, responses={201: AnswerOutputSerializer, 200: AnswerOutputSerializer})
    def post(self, request, answer_id):
        expert = request_expert(request)
        answer = access_answer_for_expert(expert=expert, answer_id=answer_id)
        payload, client_id = label_payload(request, what="answer")
        answer, created = exam_answer_submit(
            answer=answer, expert=expert, payload=payload, client_id=client_id
        )
        attempt = ExamAttempt.objects.select_related("exam").get(pk=answer.attempt_id)
        body = {"id": str(answer.pk), "attempt": attempt_result(attempt)}
        return Response(body, status=201 if created else 200)


# --- Labs and staff -----------------------------------------------------------------------


class _ExamFields(InputSerializer):
    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=100_000, default="")
    pass_mark = serializers.FloatField(min_value=0.01, max_value=1.0, default=0.8)
    retry_delay_seconds = serializers.IntegerField(min_value=0, max_value=365 * 86_400, default=86_400)
    max_questions = serializers.IntegerField(min_value=1, max_value=200, required=False, allow_null=True)
    items = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=200,
        help_text="Questions as batch records with their gold answers.",
    )
    gold_item_ids = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=200,
        help_text="external_ids of the project's gold items to copy (default: all of them).",
    )


def attempt_row(attempt: ExamAttempt) -> dict:
    row = attempt_result(attempt)
    row["expert"] = attempt.expert.pseudonym
    return row


class LabProjectExamListApi(LabAPIView):
    """The exams of one of the lab's projects (GET); POST makes a new one, which replaces the
    active exam. Set the project's ``requires_qualification`` to make it a condition."""

    serializer_class = ExamOutputSerializer

    def safely_get_queryset(self, lab):
        return Exam.objects.filter(project__lab=lab)

    class InputSerializer(_ExamFields):
        pass

    @extend_schema(responses={200: results_of(ExamOutputSerializer)})
    def get(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        exams = (
            self.get_queryset()
            .filter(project=project)
            .select_related("project__domain")
            .order_by("-created_at")
        )
        return Response({"results": ExamOutputSerializer(exams, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: ExamOutputSerializer})
    def post(self, request, project_id):
        project = access_project_for_lab(lab=self.lab, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exam = exam_create(project=project, api_key=self.api_key, **data.validated_data)
        return Response(ExamOutputSerializer(exam).data, status=status.HTTP_201_CREATED)


class LabExamAttemptListApi(LabAPIView):
    """Attempts at one of the lab's exams, newest first; experts named by pseudonym."""

    serializer_class = AttemptRowSerializer

    def safely_get_queryset(self, lab):
        return ExamAttempt.objects.filter(exam__project__lab=lab)

    @extend_schema(responses={200: results_of(AttemptRowSerializer)})
    def get(self, request, exam_id):
        attempts = self.get_queryset().filter(exam_id=exam_id).select_related("exam", "expert")
        if not Exam.objects.filter(pk=exam_id, project__lab=self.lab).exists():
            raise ApplicationError("Exam not found.", code="not_found", status_code=404)
        return Response({"results": [attempt_row(a) for a in attempts.order_by("-started_at")[:500]]})


class StaffExamListApi(APIView):
    """Every exam (GET, ``?project=`` or ``?domain=`` to filter); POST makes a project exam
    (``project``) or a domain exam (``domain`` path, ``items`` and optionally ``label_schema``)."""

    permission_classes = [Allows(A.STAFF_VIEW, post=A.EXAM_MANAGE)]

    class InputSerializer(_ExamFields):
        project = serializers.UUIDField(required=False)
        domain = serializers.CharField(required=False)
        label_schema = serializers.JSONField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Only this project's exams (its id)."),
            OpenApiParameter("domain", str, description="Only this domain's exams (its path)."),
        ],
        responses={200: results_of(ExamOutputSerializer)},
    )
    def get(self, request):
        exams = Exam.objects.select_related("project__domain", "domain").order_by("-created_at")
        if request.query_params.get("project"):
            exams = exams.filter(project_id=request.query_params["project"])
        if request.query_params.get("domain"):
            exams = exams.filter(domain__path=request.query_params["domain"])
        return Response({"results": ExamOutputSerializer(exams[:500], many=True).data})

    @extend_schema(request=InputSerializer, responses={201: ExamOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("project"):
            project = Project.objects.filter(pk=values.pop("project")).first()
            if project is None:
                raise ApplicationError(
                    "Project not found.", code="not_found", field="project", status_code=404
                )
            values["project"] = project
        if values.get("domain"):
            values["domain"] = access_domain_by_path(path=values["domain"])
        exam = exam_create(actor=request.user, **values)
        return Response(ExamOutputSerializer(exam).data, status=status.HTTP_201_CREATED)


class StaffExamAttemptListApi(APIView):
    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(responses={200: results_of(StaffAttemptRowSerializer)})
    def get(self, request, exam_id):
        attempts = ExamAttempt.objects.filter(exam_id=exam_id).select_related("exam", "expert__user")
        rows = []
        for attempt in attempts.order_by("-started_at")[:500]:
            row = attempt_row(attempt)
            row["expert_email"] = attempt.expert.user.email
            rows.append(row)
        return Response({"results": rows})


class QualificationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    expert = serializers.CharField(source="expert.pseudonym")
    expert_email = serializers.CharField(source="expert.user.email")
    project = serializers.UUIDField(source="project_id", allow_null=True)
    domain = serializers.CharField(source="domain.path", allow_null=True, default=None)
    attempt = serializers.UUIDField(source="attempt_id", allow_null=True)
    granted_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoke_reason = serializers.CharField()


class StaffQualificationListApi(APIView):
    """Qualifications, newest first; filter with ``?project=``, ``?expert=`` (pseudonym) and
    ``?valid=true``."""

    permission_classes = [Allows(A.STAFF_VIEW)]

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Only qualifications for this project (its id)."),
            OpenApiParameter("expert", str, description="Only this expert's (their pseudonym)."),
            OpenApiParameter("valid", str, enum=["true"], description="`true`: only those not revoked."),
        ],
        responses={200: results_of(QualificationOutputSerializer)},
    )
    def get(self, request):
        rows = Qualification.objects.select_related("expert__user", "domain").order_by("-granted_at")
        params = request.query_params
        if params.get("project"):
            rows = rows.filter(project_id=params["project"])
        if params.get("expert"):
            rows = rows.filter(expert__pseudonym=params["expert"])
        if params.get("valid") == "true":
            rows = rows.filter(revoked_at__isnull=True)
        return Response({"results": QualificationOutputSerializer(rows[:500], many=True).data})


class StaffQualificationRevokeApi(APIView):
    permission_classes = [Allows(A.QUALIFICATION_REVOKE)]

    class InputSerializer(InputSerializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses={200: QualificationOutputSerializer})
    def post(self, request, qualification_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        qualification = Qualification.objects.filter(pk=qualification_id).first()
        if qualification is None:
            raise ApplicationError("Qualification not found.", code="not_found", status_code=404)
        qualification = qualification_revoke(
            qualification=qualification, actor=request.user, reason=data.validated_data["reason"]
        )
        qualification = Qualification.objects.select_related("expert__user", "domain").get(
            pk=qualification.pk
        )
        return Response(QualificationOutputSerializer(qualification).data)
