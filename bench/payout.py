"""Gas per recipient of a payout: the token's ``transfer_batch`` against single ``transfer``s.

    python bench/payout.py [--recipients 200]

On the in-process EVM (eth-tester + py-evm, Prague rules) with the committed RewardToken
bytecode, signed and sent raw exactly as payout runs do (``rewards.chain``). "fresh" recipients
have never held the token (their balance slot goes from zero to non-zero: 20,000 gas of the
SSTORE), "funded" ones already hold some. Per recipient = the transaction's gasUsed (base
21,000 included) divided by the recipients it pays. Prints name=value lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and bench/queue.py would shadow the
# standard library's ``queue``: put the repository root there instead.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")
os.environ.pop("CHAIN_RPC_URL", None)  # always the in-process chain

import django  # noqa: E402

django.setup()

from web3 import Web3  # noqa: E402

from rewards.chain import chain_get  # noqa: E402


def send(chain, data: str) -> int:
    raw, tx_hash = chain.sign(nonce=chain.nonce_pending(), data=data, gas=chain.estimate(data) * 2)
    chain.send_raw(raw)
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and receipt["status"] == 1
    return int(receipt["gasUsed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200)
    n = parser.parse_args().recipients
    chain = chain_get()
    batch_to = [Web3.to_checksum_address((0x1000 + i).to_bytes(20, "big")) for i in range(n)]
    single_to = [Web3.to_checksum_address((0x9000 + i).to_bytes(20, "big")) for i in range(n)]
    amounts = [10**18 + i for i in range(n)]

    started = time.perf_counter()
    batch_fresh = send(chain, chain.batch_calldata(batch_to, amounts))
    batch_seconds = time.perf_counter() - started
    batch_funded = send(chain, chain.batch_calldata(batch_to, amounts))

    def single(to: str, amount: int) -> int:
        return send(chain, chain.token.encode_abi("transfer", args=[to, amount]))

    started = time.perf_counter()
    single_fresh = [single(to, amount) for to, amount in zip(single_to, amounts, strict=True)]
    single_seconds = time.perf_counter() - started
    single_funded = [single(to, amount) for to, amount in zip(single_to, amounts, strict=True)]

    for to, amount in zip(batch_to, amounts, strict=True):
        assert chain.token_balance(to) == 2 * amount
    print(f"recipients={n}")
    print(f"batch_gas_per_recipient_fresh={batch_fresh / n:.0f}")
    print(f"batch_gas_per_recipient_funded={batch_funded / n:.0f}")
    print(f"single_gas_per_recipient_fresh={sum(single_fresh) / n:.0f}")
    print(f"single_gas_per_recipient_funded={sum(single_funded) / n:.0f}")
    print(f"batch_tx_gas_fresh={batch_fresh}")
    print(f"batch_seconds_fresh={batch_seconds:.3f}")
    print(f"single_seconds_fresh={single_seconds:.3f}")


if __name__ == "__main__":
    main()
