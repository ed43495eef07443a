"""Linking a wallet with Sign-In with Ethereum, through the API and the page."""

from __future__ import annotations

import re

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from rest_framework.test import APIClient
from web3 import Web3

from rewards.payouts.models import Wallet
from rewards.payouts.selectors import wallet_address
from rlhf_platform.audit.models import AuditEvent
from tests.factories import ExpertProfileFactory

pytestmark = pytest.mark.django_db


def _key(name: str):
    return Account.from_key(Web3.keccak(text=name))


def _sign(text: str, key) -> str:
    return "0x" + bytes(key.sign_message(encode_defunct(text=text)).signature).hex()


def _message(client, address: str) -> str:
    response = client.post("/api/v1/me/wallet/message", {"address": address}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["message"]


def _link(client, message: str, signature: str):
    return client.post("/api/v1/me/wallet/link", {"message": message, "signature": signature}, format="json")


def test_an_expert_links_a_wallet_by_signing_the_servers_message(chain, expert, expert_client):
    key = _key("alice")
    message = _message(expert_client, key.address.lower())
    assert message.startswith("testserver wants you to sign in with your Ethereum account:\n" + key.address)
    assert f"Chain ID: {chain.chain_id}\n" in message and "Expiration Time: " in message

    response = _link(expert_client, message, _sign(message, key))

    assert response.status_code == 201, response.json()
    assert wallet_address(expert_id=expert.pk) == key.address
    assert expert_client.get("/api/v1/me/wallet").json()["wallet"]["address"] == key.address
    assert AuditEvent.objects.filter(action="wallet.link", target_id=str(expert.wallet.pk)).exists()


def test_a_signature_by_another_key_is_refused(chain, expert, expert_client):
    message = _message(expert_client, _key("alice").address)
    response = _link(expert_client, message, _sign(message, _key("mallory")))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "wrong_signer"
    assert wallet_address(expert_id=expert.pk) is None


def test_an_expired_message_is_refused(chain, expert, expert_client, settings):
    settings.WALLET_MESSAGE_TTL_SECONDS = 0
    key = _key("alice")
    message = _message(expert_client, key.address)
    response = _link(expert_client, message, _sign(message, key))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "expired"


def test_a_nonce_is_used_once(chain, expert, expert_client, settings):
    settings.WALLET_CHANGE_COOLDOWN_SECONDS = 0
    key = _key("alice")
    message = _message(expert_client, key.address)
    signature = _sign(message, key)
    assert _link(expert_client, message, signature).status_code == 201
    replay = _link(expert_client, message, signature)
    assert replay.status_code == 409
    assert replay.json()["errors"][0]["code"] == "nonce_used"


def test_a_message_not_issued_here_or_altered_is_refused(chain, expert, expert_client):
    key = _key("alice")
    message = _message(expert_client, key.address).replace("Link this address", "Link that address")
    response = _link(expert_client, message, _sign(message, key))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unknown_nonce"


def test_another_experts_message_cannot_be_used(chain, expert_client):
    key = _key("alice")
    message = _message(expert_client, key.address)
    thief = APIClient()
    thief.force_login(ExpertProfileFactory().user)
    response = _link(thief, message, _sign(message, key))
    assert response.json()["errors"][0]["code"] == "unknown_nonce"


def test_one_expert_per_wallet(chain, expert_client):
    key = _key("alice")
    message = _message(expert_client, key.address)
    assert _link(expert_client, message, _sign(message, key)).status_code == 201
    other = APIClient()
    other.force_login(ExpertProfileFactory().user)
    message = _message(other, key.address)
    response = _link(other, message, _sign(message, key))
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "address_taken"


def test_changing_the_wallet_needs_a_new_signature_and_waits_for_the_cooldown(
    chain, expert, expert_client, settings
):
    first, second = _key("alice"), _key("alice-new")
    message = _message(expert_client, first.address)
    assert _link(expert_client, message, _sign(message, first)).status_code == 201

    refused = expert_client.post("/api/v1/me/wallet/message", {"address": second.address}, format="json")
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "wallet_cooldown"

    settings.WALLET_CHANGE_COOLDOWN_SECONDS = 0
    message = _message(expert_client, second.address)
    assert _link(expert_client, message, _sign(message, second)).status_code == 201
    assert Wallet.objects.get(expert=expert).address == second.address
    change = AuditEvent.objects.get(action="wallet.change")
    assert change.data["previous"] == first.address


def test_the_wallet_page_links_offline_with_a_pasted_signature(chain, expert, client):
    client.force_login(expert.user)
    key = _key("offline")
    page = client.post("/wallet/", {"address": key.address})
    assert page.status_code == 200
    message = page.context["signature_form"].initial["message"]
    # The script is served from our own static files, never a CDN. (Not a search for "cdn" in
    # the page: a random CSRF token or sign-in nonce spells it about once in 500 pages.)
    sources = re.findall(rb'<script[^>]*\ssrc="([^"]*)"', page.content)
    assert b"/static/js/wallet.js" in sources and all(src.startswith(b"/static/") for src in sources)

    done = client.post(
        "/wallet/", {"message": message.replace("\n", "\r\n"), "signature": _sign(message, key)}
    )

    assert done.status_code == 302
    assert wallet_address(expert_id=expert.pk) == key.address
    assert key.address.encode() in client.get("/wallet/").content
