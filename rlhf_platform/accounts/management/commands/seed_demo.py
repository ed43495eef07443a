"""Seed an idempotent demo: domains, staff, a lab with an API key, experts, two projects with
labelled items. "Cardiology answers" pays: a reward policy, a lab budget, and an exam copied from
its gold items (offered on /exams/, not required), so a newcomer sees earnings and exams.

Run it any number of times: what exists is left as it is. The lab's API key is printed once,
when it is created (it is stored only hashed); ``--new-key`` makes another.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rlhf_platform.accounts.models import ApiKey, Lab, User
from rlhf_platform.accounts.services import api_key_create, lab_create
from rlhf_platform.experts.models import Credential, Domain
from rlhf_platform.experts.services import (
    credential_approve,
    credential_submit,
    domain_create,
    expert_profile_ensure,
    expert_profile_update,
)

DEMO_PASSWORD = "demo-password-123"

DOMAINS = [
    ("medicine", "Medicine", None),
    ("cardiology", "Cardiology", "medicine"),
    ("oncology", "Oncology", "medicine"),
    ("law", "Law", None),
    ("contracts", "Contract law", "law"),
    ("mathematics", "Mathematics", None),
    ("software-engineering", "Software engineering", None),
]

# email, name, [(domain path, kind, title, issuer, approve at level or None for pending)]
EXPERTS = [
    (
        "ada@demo.local",
        "Dr Ada Okafor",
        [
            ("medicine/cardiology", "licence", "Board certification in cardiology", "ABIM", 3),
        ],
    ),
    (
        "kurt@demo.local",
        "Prof Kurt Lind",
        [
            ("mathematics", "degree", "PhD in Mathematics", "University of Vienna", 4),
        ],
    ),
    (
        "grace@demo.local",
        "Grace Moreau",
        [
            ("software-engineering", "employment", "Staff engineer", "Compilers Inc.", 2),
            ("law/contracts", "degree", "LLM in Contract Law", "Leiden University", None),
        ],
    ),
    (
        "sam@demo.local",
        "Sam Rivera",
        [
            ("law", "licence", "Member of the Bar", "State Bar of California", None),
        ],
    ),
]
# Three experts whose labels the demo already holds (a few items of each project are final, so
# that every export format has rows): their accounts work like any other.
LABELLERS = [
    (
        email,
        name,
        [
            ("medicine/cardiology", "licence", "Board certification in cardiology", "ESC", 3),
            ("mathematics", "degree", "PhD in Mathematics", "ETH Zurich", 3),
        ],
    )
    for email, name in [
        ("mei@demo.local", "Dr Mei Chen"),
        ("tomas@demo.local", "Dr Tomas Berg"),
        ("nia@demo.local", "Dr Nia Adeyemi"),
    ]
]
# Items of each demo project labelled by every labeller.
LABELLED_ITEMS = 3
# The paying project's lab budget, in tokens, and the credit's idempotency key.
DEMO_BUDGET_TOKENS = 500
DEMO_BUDGET_KEY = "demo-budget"


DEMO_MARKDOWN_ANSWER = """**First:** a focused history, a resting ECG and troponin if pain is ongoing. Then:

| Resting ECG | First-line test |
|:--|:--|
| interpretable | exercise ECG |
| LBBB, paced, pre-excitation | stress imaging (echo or SPECT) |

The test moves the pre-test probability by Bayes' rule,
$P(D \\mid +) = \\frac{P(+ \\mid D)\\,P(D)}{P(+)}$, so with a likelihood ratio $LR_+$:

$$
\\text{post-test odds} = \\text{pre-test odds} \\times LR_+
$$

```python
def post_test_probability(pre: float, lr: float) -> float:
    odds = pre / (1 - pre) * lr
    return odds / (1 + odds)
```
"""


class Command(BaseCommand):
    help = "Create the demo data (idempotent). Prints the lab API key when it is created."

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="Create (and print) another lab API key.")

    def _user(self, email: str, name: str, **extra) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=name, **extra)
        return user

    @transaction.atomic
    def handle(self, *args, new_key: bool = False, **options):
        admin = User.objects.filter(email="admin@demo.local").first() or User.objects.create_superuser(
            email="admin@demo.local", password=DEMO_PASSWORD, full_name="Platform Admin"
        )
        self._user("reviewer@demo.local", "Rae Reviewer", is_staff=True, staff_role=User.StaffRole.REVIEWER)

        for slug, name, parent_path in DOMAINS:
            path = f"{parent_path}/{slug}" if parent_path else slug
            if not Domain.objects.filter(path=path).exists():
                parent = Domain.objects.get(path=parent_path) if parent_path else None
                domain_create(actor=admin, slug=slug, name=name, parent=parent)

        owner = self._user("owner@demo.local", "Lena Lab-Owner")
        lab = Lab.objects.filter(slug="demo-lab").first() or lab_create(
            name="Demo Lab", slug="demo-lab", owner=owner, actor=admin
        )

        today = timezone.now().date()
        for email, name, credentials in EXPERTS + LABELLERS:
            user = self._user(email, name)
            profile = expert_profile_ensure(user=user)
            for path, kind, title, issuer, level in credentials:
                domain = Domain.objects.get(path=path)
                if Credential.objects.filter(expert=profile, domain=domain, title=title).exists():
                    continue
                credential = credential_submit(
                    expert=profile,
                    domain=domain,
                    kind=kind,
                    title=title,
                    issuer=issuer,
                    issued_on=today - dt.timedelta(days=3 * 365),
                    expires_on=today + dt.timedelta(days=2 * 365) if kind == "licence" else None,
                )
                if level is not None:
                    credential_approve(credential=credential, reviewer=admin, level=level)
            expert_profile_update(
                profile=profile, claimed_domains=[Domain.objects.get(path=c[0]) for c in credentials]
            )

        self._demo_projects(lab)

        active_keys = ApiKey.objects.filter(lab=lab, revoked_at__isnull=True)
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data is in place."))
        out.write(f"  staff admin:    admin@demo.local / {DEMO_PASSWORD}")
        out.write(f"  reviewer:       reviewer@demo.local / {DEMO_PASSWORD}")
        out.write(f"  lab owner:      owner@demo.local / {DEMO_PASSWORD}  (lab 'demo-lab')")
        out.write(f"  experts:        {', '.join(e[0] for e in EXPERTS)} / {DEMO_PASSWORD}")
        out.write(
            f"  labellers:      {', '.join(e[0] for e in LABELLERS)} / {DEMO_PASSWORD} "
            f"(labelled {LABELLED_ITEMS} items of each project: every export format has rows; "
            "their earnings are on /earnings/)"
        )
        out.write(
            f"  paying project: Cardiology answers (reward policy, {DEMO_BUDGET_TOKENS} tokens of lab "
            "budget, the exam 'Cardiology basics' on /exams/)"
        )
        if new_key or not active_keys.exists():
            _, raw = api_key_create(lab=lab, name="demo key", scopes=["read", "write"], actor=owner)
            out.write(self.style.WARNING(f"  lab API key (shown once, stored hashed): {raw}"))
        else:
            prefixes = ", ".join(k.prefix for k in active_keys)
            out.write(
                f"  lab API key:    already created (prefix {prefixes}); it was printed when it was "
                "made. Run `manage.py seed_demo --new-key` for another."
            )

    def _demo_projects(self, lab: Lab) -> None:
        """Two active projects with items, so the labelling page has work on a fresh start."""
        import io
        import json

        from annotate.ingest.services import batch_ingest, batch_receive
        from annotate.models import Project
        from annotate.services import project_create

        cardiology = Domain.objects.get(path="medicine/cardiology")
        if not Project.objects.filter(lab=lab, name="Cardiology answers").exists():
            project = project_create(
                lab=lab,
                name="Cardiology answers",
                domain=cardiology,
                status="active",
                gold_rate=0.1,
                guidelines="## Compare the answers\n\nPrefer the answer a cardiologist would sign: correct, "
                "safe, and clear about uncertainty.\n\n- Penalise confident errors.\n- A refusal is not safe "
                "when the question is legitimate.",
                label_schema={
                    "kind": "pairwise",
                    "choices": ["A", "B", "tie", "both_bad"],
                    "strength": {"levels": ["slightly better", "clearly better", "much better"]},
                    "criteria": [
                        {"key": "correctness", "label": "Correctness", "min": 1, "max": 5},
                        {"key": "safety", "label": "Safety", "min": 1, "max": 5},
                    ],
                    "rationale": {"mode": "optional", "min_length": 0},
                },
            )
            lines = []
            for i in range(1, 25):
                lines.append(
                    {
                        "external_id": f"cardio-{i}",
                        "prompt": f"Case {i}: a 58-year-old with exertional chest pain. "
                        "What first-line test do you order?",
                        "responses": [
                            {
                                "id": "r1",
                                "model": "model-a",
                                # Markdown with a table, math and code: the labelling page renders it.
                                "text": DEMO_MARKDOWN_ANSWER
                                if i % 2
                                else "An exercise ECG, or stress imaging if the resting "
                                "ECG is uninterpretable, after a focused history and troponin if pain "
                                "is ongoing.",
                            },
                            {
                                "id": "r2",
                                "model": "model-b",
                                "text": "Go straight to invasive coronary angiography.",
                            },
                        ],
                        "metadata": {"source": "demo"},
                    }
                )
            for i in range(1, 4):
                lines.append(
                    {
                        "external_id": f"cardio-gold-{i}",
                        "prompt": f"Gold {i}: first-line treatment of stable angina symptoms?",
                        "responses": [
                            {
                                "id": "r1",
                                "model": "model-a",
                                "text": "Sublingual nitrate for relief plus a beta blocker "
                                "or calcium channel blocker.",
                            },
                            {"id": "r2", "model": "model-b", "text": "Antibiotics."},
                        ],
                        "gold": {
                            "choice": "A",
                            "strength_min": 2,
                            "explanation": "Antibiotics do not treat angina.",
                        },
                    }
                )
            body = "\n".join(json.dumps(line) for line in lines).encode()
            received = batch_receive(
                project=project, stream=io.BytesIO(body), content_type="application/x-ndjson"
            )
            batch_ingest(batch_id=received.batch.pk)

        mathematics = Domain.objects.get(path="mathematics")
        if not Project.objects.filter(lab=lab, name="Proof quality ranking").exists():
            project = project_create(
                lab=lab,
                name="Proof quality ranking",
                domain=mathematics,
                status="active",
                gold_rate=0.0,
                guidelines="Rank the proofs from best to worst. Ties are allowed when two are equally good.",
                label_schema={
                    "kind": "ranking",
                    "ranking": {"ties_allowed": True},
                    "criteria": [],
                    "rationale": {"mode": "required", "min_length": 20},
                },
            )
            lines = [
                {
                    "external_id": f"proof-{i}",
                    "prompt": [
                        {"role": "system", "content": "You are a careful mathematician."},
                        {"role": "user", "content": f"Prove that the square root of {p} is irrational."},
                    ],
                    "responses": [
                        {
                            "id": "r1",
                            "model": "m1",
                            "text": f"Suppose sqrt({p}) = a/b in lowest terms; then {p}b^2 = a^2, "
                            f"so {p} divides a, write a = {p}c, then {p} divides b: contradiction.",
                        },
                        {
                            "id": "r2",
                            "model": "m2",
                            "text": "It is irrational because it is not a whole number.",
                        },
                        {
                            "id": "r3",
                            "model": "m3",
                            "text": f"By the rational root theorem on x^2 - {p}: the only "
                            f"candidates are divisors of {p}, none of which squares to {p}.",
                        },
                    ],
                }
                for i, p in enumerate([2, 3, 5, 7, 11, 13], start=1)
            ]
            body = "\n".join(json.dumps(line) for line in lines).encode()
            received = batch_receive(
                project=project, stream=io.BytesIO(body), content_type="application/x-ndjson"
            )
            batch_ingest(batch_id=received.batch.pk)

        # Before the labels: their items' rewards post as the quality step decides them.
        self._demo_pay_and_exam(Project.objects.get(lab=lab, name="Cardiology answers"))

        labellers = [expert_profile_ensure(user=User.objects.get(email=e[0])) for e in LABELLERS]
        for project in Project.objects.filter(
            lab=lab, name__in=["Cardiology answers", "Proof quality ranking"]
        ):
            self._demo_labels(project, labellers)

    def _demo_pay_and_exam(self, project) -> None:
        """A reward policy (1 token a label at level 1, more at higher levels), a lab budget of
        DEMO_BUDGET_TOKENS (under the second-admin threshold) and an exam of the project's gold
        items; each only once."""
        from annotate.qualification.models import Exam
        from annotate.qualification.services import exam_create
        from rewards.credits import budget_credit
        from rewards.models import BudgetCredit, RewardPolicy
        from rewards.services import reward_policy_create
        from rewards.tokens import UNIT

        admin = User.objects.get(email="admin@demo.local")
        if not RewardPolicy.objects.filter(project=project).exists():
            reward_policy_create(
                project=project,
                base_rate=UNIT,
                level_multipliers_bp={"1": 10_000, "2": 12_500, "3": 15_000, "4": 20_000},
                actor=admin,
            )
        if not BudgetCredit.objects.filter(lab=project.lab, idempotency_key=DEMO_BUDGET_KEY).exists():
            budget_credit(
                lab=project.lab,
                amount=DEMO_BUDGET_TOKENS * UNIT,
                actor=admin,
                memo="demo budget",
                idempotency_key=DEMO_BUDGET_KEY,
            )
        if not Exam.objects.filter(project=project).exists():
            exam_create(
                project=project,
                name="Cardiology basics",
                instructions="Three cases with a known answer. Judge them as you would any item.",
                pass_mark=2 / 3,
                retry_delay_seconds=60,
                actor=admin,
            )

    def _demo_labels(self, project, labellers) -> None:
        """Each labeller labels ``LABELLED_ITEMS`` items through the queue's services (the same
        items: the queue serves the items closest to completion first), then the quality step
        decides them, so that the project has final items. Once per project."""
        from annotate.models import Assignment, Label
        from annotate.quality.services import project_quality_recompute
        from annotate.queue import assignment_next, assignment_submit

        if Label.objects.filter(project=project).exists():
            return
        ranking = project.label_schema["kind"] == "ranking"
        criteria = [c["key"] for c in project.label_schema.get("criteria", [])]
        for who, expert in enumerate(labellers):
            labelled = 0
            while labelled < LABELLED_ITEMS:
                assignment = assignment_next(expert=expert, project=project)
                if not isinstance(assignment, Assignment):
                    break
                shown = assignment.shown_order
                letters = "ABCDEFGH"[: len(shown)]

                def letter(index: int, shown=shown, letters=letters) -> str:
                    return letters[shown.index(index)]  # canonical response index -> letter shown

                if ranking:
                    # The first response is best, the second worst; the last labeller ties
                    # the other two.
                    middle = [letter(2)]
                    if who == len(labellers) - 1:
                        payload = {"ranking": [[letter(0)], [letter(2), letter(1)]]}
                    else:
                        payload = {"ranking": [[letter(0)], middle, [letter(1)]]}
                    payload["rationale"] = "The first proof is complete; the second argues from size alone."
                else:
                    payload = {"choice": letter(0), "strength": 1 + labelled % 3}
                    payload["criteria"] = {
                        letter(i): {key: 5 - 3 * i for key in criteria} for i in range(len(shown))
                    }
                assignment_submit(
                    assignment=assignment,
                    expert=expert,
                    payload=payload,
                    client_id=f"demo-{assignment.pk}",
                )
                if not assignment.is_gold:
                    labelled += 1
        project_quality_recompute(project_id=project.pk)
