"""The staff payout pages ask before they act and offer only the actions that apply; amounts
read in tokens."""

from __future__ import annotations

import pytest

from rewards.payouts.models import PayoutRun
from rewards.payouts.services import payout_run_create, payout_run_execute
from rlhf_platform.accounts.models import User
from tests.factories import ExpertProfileFactory, StaffFactory, WalletFactory
from tests.payouts.conftest import TOKEN, key_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client):
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    return client


def test_planning_a_run_asks_first_with_what_it_would_pay(chain, earn, admin_web):
    paid, unlinked = ExpertProfileFactory(), ExpertProfileFactory()
    WalletFactory(expert=paid, address=key_of(10).address)
    earn(paid, 5 * TOKEN // 2)
    earn(unlinked, 3 * TOKEN)
    page = admin_web.post("/staff/payouts/")
    assert page.status_code == 200 and not PayoutRun.objects.exists()
    html = page.content.decode()
    assert 'id="confirm-action"' in html and 'name="confirm" value="yes"' in html
    assert "2.50 tokens" in html  # the one expert with a wallet, in tokens
    assert "Left out (no wallet linked)" in html
    assert admin_web.post("/staff/payouts/", {"confirm": "yes"}).status_code == 302
    assert PayoutRun.objects.get().status == "pending_approval"


def test_approving_a_run_asks_first(chain, earn, client):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(11).address)
    earn(expert, 2 * TOKEN)
    run = payout_run_create(trigger="staff", actor=StaffFactory(staff_role=User.StaffRole.ADMIN))
    client.force_login(StaffFactory(staff_role=User.StaffRole.ADMIN))
    page = client.post(f"/staff/payouts/{run.pk}/approve/")
    assert page.status_code == 200 and "2.00 tokens" in page.content.decode()
    run.refresh_from_db()
    assert run.status == "pending_approval" and chain.token_balance(key_of(11).address) == 0
    client.post(f"/staff/payouts/{run.pk}/approve/", {"confirm": "yes"})
    run.refresh_from_db()
    assert run.status == "completed" and chain.token_balance(key_of(11).address) == 2 * TOKEN


def test_a_finished_run_without_failures_offers_no_retry(chain, earn, admin_web):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(12).address)
    earn(expert, 2 * TOKEN)
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.status == "completed"
    html = admin_web.get(f"/staff/payouts/{run.pk}/").content.decode()
    assert 'id="retry"' not in html and "Retry failures" not in html
    assert "2.00" in html  # totals in tokens


def test_a_finished_run_with_a_failure_offers_the_retry(chain, earn, admin_web):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(13).address)
    earn(expert, 2 * TOKEN)
    balance = chain.token_balance(chain.payer.address)
    chain.token.functions.transfer(chain.w3.eth.accounts[3], balance).transact({"from": chain.payer.address})
    run = payout_run_execute(run_id=payout_run_create(trigger="staff").pk)
    assert run.transactions.get().status == "failed"
    html = admin_web.get(f"/staff/payouts/{run.pk}/").content.decode()
    assert "Retry failures (new run)" in html


def test_no_plan_button_while_a_run_is_open_but_a_link_to_it(chain, earn, admin_web):
    expert = ExpertProfileFactory()
    WalletFactory(expert=expert, address=key_of(14).address)
    earn(expert, 2 * TOKEN)
    assert 'id="run-now"' in admin_web.get("/staff/payouts/").content.decode()
    run = payout_run_create(trigger="staff", actor=StaffFactory(staff_role=User.StaffRole.ADMIN))
    html = admin_web.get("/staff/payouts/").content.decode()
    assert 'id="run-now"' not in html
    assert f'href="/staff/payouts/{run.pk}/"' in html[html.index('id="open-run"') :]


def test_planning_with_nobody_to_pay_says_so_and_plans_nothing(chain, earn, admin_web):
    earn(ExpertProfileFactory(), 3 * TOKEN)  # payable, but no wallet linked
    response = admin_web.post("/staff/payouts/", follow=True)
    assert "Nothing to pay now" in response.content.decode()
    assert 'id="confirm-action"' not in response.content.decode()
    assert not PayoutRun.objects.exists()
