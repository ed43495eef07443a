"""The chain client's configuration: the expected chain id is enforced, a keystore unlocks the
payer, and missing settings are named."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from rewards.chain import ChainConfigError, _payer_from_settings, chain_get, chain_reset


@pytest.fixture
def fresh_chain():
    chain_reset()
    yield
    chain_reset()


def test_a_chain_with_another_id_than_chain_id_is_refused(settings, fresh_chain):
    settings.CHAIN_ID = 1
    with pytest.raises(ChainConfigError, match="CHAIN_ID is 1"):
        chain_get()


def test_the_expected_chain_id_is_accepted(settings, fresh_chain):
    settings.CHAIN_ID = 131277322940537  # eth-tester's
    assert chain_get().chain_id == 131277322940537


def test_the_payer_key_comes_from_an_encrypted_keystore(settings, tmp_path):
    account = Account.create()
    keystore = tmp_path / "payer.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "s3cret", iterations=2)))
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    settings.CHAIN_PAYER_KEY = ""
    settings.CHAIN_PAYER_KEYSTORE = str(keystore)
    settings.CHAIN_PAYER_KEYSTORE_PASSWORD_FILE = str(password)
    assert _payer_from_settings().address == account.address


def test_an_rpc_chain_without_a_token_address_is_refused(settings, fresh_chain):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:1"
    settings.CHAIN_TOKEN_ADDRESS = ""
    with pytest.raises(ChainConfigError, match="CHAIN_TOKEN_ADDRESS"):
        chain_get()
