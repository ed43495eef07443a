"""The rewards endpoints and pages: an expert's earnings, a lab's budget and policies, staff."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rewards.credits import budget_credit
from rewards.models import LedgerTransaction, RewardPolicy
from rlhf_platform.accounts.models import User
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ItemFactory, LabelFactory, ProjectFactory, StaffFactory, make_api_key
from tests.rewards.conftest import MULTIPLIERS, TOKEN, credit, expert_at, finalise, policy_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    return client


def _policy_body(**overrides):
    return {"base_rate": str(TOKEN), "level_multipliers_bp": MULTIPLIERS, **overrides}


def test_a_lab_creates_policy_versions_and_lists_them(lab_key, lab_client):
    lab, _key, _raw = lab_key
    project = ProjectFactory(lab=lab)
    url = f"/api/v1/projects/{project.pk}/reward-policies"
    first = lab_client.post(url, _policy_body(), format="json")
    second = lab_client.post(url, _policy_body(base_rate=2 * TOKEN, min_reward=10), format="json")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["version"] == 2 and second.json()["base_rate"] == str(2 * TOKEN)
    listed = lab_client.get(url).json()
    assert [p["version"] for p in listed] == [2, 1]
    assert AuditEvent.objects.filter(action="reward_policy.create").count() == 2


def test_a_policy_with_a_float_or_missing_level_is_refused(lab_key, lab_client):
    lab, _key, _raw = lab_key
    project = ProjectFactory(lab=lab)
    url = f"/api/v1/projects/{project.pk}/reward-policies"
    response = lab_client.post(url, _policy_body(base_rate="1.5"), format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "base_rate"
    response = lab_client.post(url, _policy_body(level_multipliers_bp={"1": 10000}), format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "level_multipliers_bp"
    assert not RewardPolicy.objects.exists()


def test_a_read_only_key_cannot_create_a_policy(lab_key):
    lab, _key, _raw = lab_key
    project = ProjectFactory(lab=lab)
    _ro, raw = make_api_key(lab, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(f"/api/v1/projects/{project.pk}/reward-policies", _policy_body(), format="json")
    assert response.status_code == 403


def test_a_lab_cannot_see_or_change_another_labs_policies(lab_client):
    other = ProjectFactory()
    url = f"/api/v1/projects/{other.pk}/reward-policies"
    assert lab_client.get(url).status_code == 404
    assert lab_client.post(url, _policy_body(), format="json").status_code == 404


def test_an_admin_credits_a_budget_once_per_idempotency_key_and_the_lab_sees_it(
    admin_client, lab_key, lab_client
):
    lab, _key, _raw = lab_key
    url = f"/api/v1/staff/labs/{lab.pk}/budget-credits"
    body = {"amount": str(50 * TOKEN), "memo": "invoice 7", "idempotency_key": "inv-7"}
    assert admin_client.post(url, body, format="json").status_code == 201
    assert admin_client.post(url, body, format="json").status_code == 200
    assert LedgerTransaction.objects.filter(kind="budget_credit").count() == 1
    assert AuditEvent.objects.filter(action="budget.credit").count() == 1
    budget = lab_client.get("/api/v1/lab/budget").json()
    assert budget["remaining"] == str(50 * TOKEN) and budget["credited"] == str(50 * TOKEN)
    staff = admin_client.get("/api/v1/staff/budgets").json()
    assert {"lab": str(lab.pk), "remaining": str(50 * TOKEN)}.items() <= next(
        row for row in staff if row["lab"] == str(lab.pk)
    ).items()


def test_a_reviewer_who_is_not_admin_cannot_credit(staff_client, lab):
    response = staff_client.post(
        f"/api/v1/staff/labs/{lab.pk}/budget-credits", {"amount": "5"}, format="json"
    )
    assert response.status_code == 403


def test_an_expert_sees_balances_and_a_statement_that_explains_each_amount(
    project, item, django_capture_on_commit_callbacks
):
    credit(project.lab, 10 * TOKEN)
    policy_for(project)
    expert = expert_at(project.domain, 3)
    LabelFactory(item=item, expert=expert, choice="A", strength=2)
    LabelFactory(item=ItemFactory(batch__project=project), expert=expert)  # not final yet
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    client = APIClient()
    client.force_login(expert.user)
    assert client.get("/api/v1/me/earnings").json() == {
        "pending": str(15 * TOKEN // 10),
        "held": "0",
        "held_shares": [],
        "payable": str(15 * TOKEN // 10),
        "in_flight": "0",
        "paid": "0",
    }
    lines = client.get("/api/v1/me/earnings/statement").json()["results"]
    assert len(lines) == 1
    details = lines[0]["details"]
    assert lines[0]["amount"] == str(15 * TOKEN // 10)
    assert (details["level"], details["multiplier_bp"], details["agreement"], details["weight_bp"]) == (
        3,
        15000,
        "full",
        10000,
    )
    assert details["policy_version"] == 1 and details["gold_factor"] == 1

    page = client.get("/earnings/")
    assert page.status_code == 200
    assert b"1.5" in page.content and b"policy v1" in page.content


def test_the_statement_reads_in_tokens_names_the_item_and_shows_the_policy_terms(
    project, item, django_capture_on_commit_callbacks
):
    credit(project.lab, 10 * TOKEN)
    policy = policy_for(project, base_rate=TOKEN // 3)  # 0.333... tokens: 18 decimals unrounded
    expert = expert_at(project.domain, 3)
    LabelFactory(item=item, expert=expert, choice="A", strength=2)
    finalise(item, django_capture_on_commit_callbacks, choice="A", strength=2.0)
    client = APIClient()
    client.force_login(expert.user)
    page = client.get("/earnings/").content.decode()
    statement = page[page.index('id="statement"') :]
    row = statement[statement.index("<tr id=") : statement.index("</tr>", statement.index("<tr id="))]
    # 1.5 x 0.333... tokens (0.499999999999999999) shows at four places; every digit on hover
    assert 'title="0.499999999999999999 tokens">0.50</td>' in row
    assert "base 0.3333 × level 3" in row
    assert item.external_id in row
    assert "/staff/quality/items/" not in row  # an expert has no item page to follow
    assert f'href="#policy-{policy.pk}"' in row
    terms = page[page.index('id="policy-terms"') :]
    assert f'id="policy-{policy.pk}"' in terms and "0.3333 tokens a label" in terms
    assert "level 3 ×1.5" in terms and "agrees ×1," in terms and "contradicts ×0;" in terms
    assert "below 80% consensus confidence" in terms and "accuracy below 70% earns nothing" in terms


def test_an_admin_claws_back_a_label_once(admin_client, project, item, django_capture_on_commit_callbacks):
    policy_for(project, base_rate=1000)
    label = LabelFactory(item=item, expert=expert_at(project.domain, 1))
    finalise(item, django_capture_on_commit_callbacks)
    url = f"/api/v1/staff/labels/{label.pk}/clawback"
    assert admin_client.post(url, {"reason": "plagiarised rationale"}, format="json").status_code == 201
    assert admin_client.post(url, {"reason": "again"}, format="json").status_code == 201
    assert LedgerTransaction.objects.filter(kind="clawback").count() == 1
    unrewarded = LabelFactory(item=ItemFactory(batch__project=project), expert=label.expert)
    response = admin_client.post(
        f"/api/v1/staff/labels/{unrewarded.pk}/clawback", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_the_staff_budget_page_credits_a_lab_in_tokens_after_a_confirmation(lab):
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    assert client.get("/staff/budgets/").status_code == 200
    url = f"/staff/budgets/{lab.pk}/credit/"
    asked = client.post(url, {"amount": "1000", "memo": "trial"})
    assert asked.status_code == 200 and not LedgerTransaction.objects.exists()
    html = asked.content.decode()
    assert f"Credit 1,000.00 tokens to {lab.name}?" in html and 'name="amount" value="1000"' in html
    response = client.post(url, {"amount": "1000", "memo": "trial", "confirm": "yes"})
    assert response.status_code == 302
    page = client.get("/staff/budgets/").content.decode()
    assert str(lab.pk) in page and "1,000.00" in page
    assert LedgerTransaction.objects.get(kind="budget_credit").amount == 1000 * TOKEN


@pytest.mark.parametrize(
    ("typed", "units"), [("12.5", 125 * TOKEN // 10), ("0.000000000000000001", 1), (".25", TOKEN // 4)]
)
def test_a_budget_credit_takes_decimal_tokens_exactly(lab, typed, units):
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    client.post(f"/staff/budgets/{lab.pk}/credit/", {"amount": typed, "confirm": "yes"})
    assert LedgerTransaction.objects.get(kind="budget_credit").amount == units


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1.0000000000000000001", "The token has 18 decimals; this amount has more."),
        ("1,000", "without thousands separators"),
        ("1e3", "as a plain number"),
        ("-5", "as a plain number"),
        ("0", "Enter at least 0.000000000000000001 tokens."),
    ],
)
def test_a_budget_credit_with_a_bad_amount_is_refused_at_the_field(lab, typed, message):
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    response = client.post(f"/staff/budgets/{lab.pk}/credit/", {"amount": typed, "confirm": "yes"})
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors["amount"])
    assert not LedgerTransaction.objects.exists()


def test_the_staff_budget_page_is_for_staff_only(expert_client):
    assert expert_client.get("/staff/budgets/").status_code == 403


def test_approving_a_pending_credit_on_the_page_asks_first(lab, settings):
    settings.BUDGET_CREDIT_APPROVAL_THRESHOLD = 10 * TOKEN
    credit_row, _ = budget_credit(
        lab=lab, amount=25 * TOKEN, actor=StaffFactory(staff_role=User.StaffRole.ADMIN), memo="invoice 7"
    )
    assert credit_row.status == "pending_approval"
    client = APIClient()
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    url = f"/staff/budget-credits/{credit_row.pk}/approve/"
    asked = client.post(url)
    assert asked.status_code == 200 and "25.00 tokens" in asked.content.decode()
    assert not LedgerTransaction.objects.filter(kind="budget_credit").exists()
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    assert LedgerTransaction.objects.get(kind="budget_credit").amount == 25 * TOKEN
