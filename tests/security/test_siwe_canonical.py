"""Sign-In with Ethereum accepts canonical signatures only: 65 bytes, ``v`` in {27, 28} or
{0, 1}, ``s`` in the lower half of the curve order. A malleated copy of a valid signature (``v``
byte 0xff, the high-``s`` twin) is refused with a 400 naming ``signature``."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from rewards.payouts.selectors import wallet_address
from tests.payouts.conftest import chain  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = Account.from_key(Web3.keccak(text="siwe-canonical"))


def _signed_message(client) -> tuple[str, bytes]:
    response = client.post("/api/v1/me/wallet/message", {"address": KEY.address}, format="json")
    assert response.status_code == 201, response.json()
    message = response.json()["message"]
    return message, bytes(KEY.sign_message(encode_defunct(text=message)).signature)


def _link(client, message: str, signature: bytes):
    return client.post(
        "/api/v1/me/wallet/link", {"message": message, "signature": "0x" + signature.hex()}, format="json"
    )


def _high_s_twin(signature: bytes) -> bytes:
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


@pytest.mark.parametrize(
    "malleate",
    [
        pytest.param(lambda sig: sig[:64] + b"\xff", id="v_0xff"),
        pytest.param(lambda sig: sig[:64] + bytes([sig[64] + 8]), id="v_35"),
        pytest.param(_high_s_twin, id="high_s"),
    ],
)
def test_a_malleated_signature_is_refused_naming_the_signature(chain, expert, expert_client, malleate):  # noqa: F811
    message, signature = _signed_message(expert_client)

    response = _link(expert_client, message, malleate(signature))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "signature" and error["code"] == "non_canonical_signature"
    assert wallet_address(expert_id=expert.pk) is None


def test_v_as_0_or_1_is_canonical_too(chain, expert, expert_client):  # noqa: F811
    message, signature = _signed_message(expert_client)

    response = _link(expert_client, message, signature[:64] + bytes([signature[64] - 27]))

    assert response.status_code == 201, response.json()
    assert wallet_address(expert_id=expert.pk) == KEY.address


def test_the_signature_as_signed_is_accepted(chain, expert, expert_client):  # noqa: F811
    message, signature = _signed_message(expert_client)
    assert _link(expert_client, message, signature).status_code == 201
