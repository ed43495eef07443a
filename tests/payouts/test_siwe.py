"""The EIP-4361 message format against the EIP's own examples (ERC-4361, "Examples")."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from rewards.payouts.siwe import SiweError, SiweMessage, siwe_parse, siwe_verify

EIP_EXAMPLE = """example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_the_eips_example_parses_into_its_fields_and_prints_back_identically():
    message = siwe_parse(EIP_EXAMPLE)
    assert message == SiweMessage(
        domain="example.com",
        address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        statement="I accept the ExampleOrg Terms of Service: https://example.com/tos",
        uri="https://example.com/login",
        chain_id=1,
        nonce="32891756",
        issued_at="2021-09-30T16:25:24Z",
        resources=(
            "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
            "https://example.com/my-web2-claim.json",
        ),
    )
    assert message.text() == EIP_EXAMPLE


@pytest.mark.parametrize(
    ("first_line", "scheme", "domain"),
    [("example.com:3388", None, "example.com:3388"), ("https://example.com", "https", "example.com")],
)
def test_the_eips_examples_with_a_port_and_with_a_scheme_round_trip(first_line, scheme, domain):
    text = EIP_EXAMPLE.replace("example.com wants", f"{first_line} wants", 1)
    message = siwe_parse(text)
    assert (message.scheme, message.domain) == (scheme, domain)
    assert message.text() == text


def test_optional_fields_and_no_statement_round_trip():
    text = (
        "localhost:8000 wants you to sign in with your Ethereum account:\n"
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
        "URI: http://localhost:8000/\nVersion: 1\nChain ID: 131277322940537\nNonce: abcdef0123\n"
        "Issued At: 2026-11-28T04:00:00Z\nExpiration Time: 2026-11-28T04:10:00Z\n"
        "Not Before: 2026-11-28T04:00:00Z\nRequest ID: r-1"
    )
    message = siwe_parse(text)
    assert message.statement is None and message.request_id == "r-1"
    assert message.text() == text


@pytest.mark.parametrize(
    "broken",
    [
        EIP_EXAMPLE.replace("Version: 1", "Version: 2"),
        EIP_EXAMPLE.replace("Nonce: 32891756", "Nonce: short"),
        EIP_EXAMPLE.replace("\n", "\r\n"),
        EIP_EXAMPLE.replace("Chain ID: 1\n", ""),
        EIP_EXAMPLE.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "vitalik.eth"),
        EIP_EXAMPLE.replace("Issued At: 2021-09-30T16:25:24Z", "Issued At: yesterday"),
    ],
)
def test_malformed_messages_are_refused(broken):
    with pytest.raises(SiweError):
        siwe_parse(broken)


def _signed(text: str, key) -> str:
    return "0x" + bytes(key.sign_message(encode_defunct(text=text)).signature).hex()


def test_verify_accepts_the_addresss_own_signature_and_refuses_another_signer():
    key = Account.from_key(Web3.keccak(text="siwe-owner"))
    text = EIP_EXAMPLE.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", key.address)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert (
        siwe_verify(text, _signed(text, key), domain="example.com", chain_id=1, now=now).address
        == key.address
    )
    other = Account.from_key(Web3.keccak(text="someone-else"))
    with pytest.raises(SiweError) as refused:
        siwe_verify(text, _signed(text, other), domain="example.com", chain_id=1, now=now)
    assert refused.value.code == "wrong_signer"
    with pytest.raises(SiweError) as wrong_domain:
        siwe_verify(text, _signed(text, key), domain="evil.example", chain_id=1, now=now)
    assert wrong_domain.value.code == "wrong_domain"
