"""The demo seed (``make run``) pays and examines: "Cardiology answers" has a reward policy in
force, its lab a budget, and an exam of its gold items on /exams/ (not required to label); the
demo labellers' decided labels have earned tokens, shown on their earnings page. A second run
adds none of these again."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from annotate.models import Project
from annotate.qualification.models import Exam
from rewards.live import expert_progress
from rewards.models import BudgetCredit, RewardPolicy
from rewards.policy import policy_in_force
from rewards.selectors import lab_budget_balance
from rewards.tokens import UNIT
from rlhf_platform.accounts.management.commands.seed_demo import DEMO_BUDGET_TOKENS, DEMO_PASSWORD
from rlhf_platform.accounts.models import User

pytestmark = pytest.mark.django_db


def _client(email: str) -> Client:
    client = Client()
    assert client.login(email=email, password=DEMO_PASSWORD)
    return client


def test_the_demo_has_a_paying_project_with_a_budget_and_an_exam(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the rewards post after commit
        call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Cardiology answers")
    assert policy_in_force(project_id=project.pk) is not None
    assert BudgetCredit.objects.get(lab=project.lab).status == BudgetCredit.Status.POSTED
    assert 0 < lab_budget_balance(lab_id=project.lab_id) <= DEMO_BUDGET_TOKENS * UNIT
    exam = Exam.objects.get(project=project, is_active=True)
    assert exam.questions.count() == 3 and not project.requires_qualification

    exams = _client("ada@demo.local").get("/exams/").content.decode()
    assert "Cardiology basics" in exams
    mei = User.objects.get(email="mei@demo.local")
    assert expert_progress(expert_id=mei.expert_profile.pk)["earned"] > 0
    earnings = _client("mei@demo.local").get("/earnings/").content.decode()
    statement = earnings[earnings.index('id="statement"') :]
    assert "Cardiology answers" in statement and ">cardio-" in statement

    call_command("seed_demo", stdout=io.StringIO())
    assert RewardPolicy.objects.filter(project=project).count() == 1
    assert BudgetCredit.objects.filter(lab=project.lab).count() == 1
    assert Exam.objects.filter(project=project).count() == 1
