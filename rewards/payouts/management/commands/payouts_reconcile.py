"""``manage.py payouts_reconcile``: the token's Transfer events from the payer against the
ledger's paid payout lines. Prints every difference; exits 1 when there is one.

Compared, transaction by transaction, as (transaction hash, receiver, amount):
* a transfer on chain that no paid line records ("not in the ledger": the key used by hand,
  or a transaction the platform believes failed), and
* a paid line with no such transfer on chain ("not on chain").
Lines of runs planned on another chain (an in-process chain from before a restart) are not
compared: that chain no longer exists. Transfers staff acknowledged as made outside the
platform (``payouts_acknowledge_transfer``) are listed and count as explained. A node that is no
longer the chain the payouts were recorded on (a reset) is reported first, and exits 1.
"""

from __future__ import annotations

import sys
from collections import Counter

from django.core.management.base import BaseCommand

from rewards.chain import chain_get
from rewards.payouts.chain_identity import ChainIdentityMismatch, chain_identity_verify
from rewards.payouts.models import PayoutLine
from rewards.payouts.outside_transfers import outside_transfers_of


class Command(BaseCommand):
    help = "Compare the token's Transfer events from the payer with the ledger's paid payouts."

    def add_arguments(self, parser):
        parser.add_argument("--from-block", type=int, default=0, help="first block to read events from")

    def handle(self, *args, from_block: int, **options):
        chain = chain_get()
        payer = chain.payer.address
        try:
            identity = chain_identity_verify(chain=chain)
        except ChainIdentityMismatch as exc:
            self.stdout.write(f"chain mismatch: {exc.message}")
            sys.exit(1)
        on_chain = Counter(
            (t["tx_hash"].lower(), t["receiver"].lower(), t["value"])
            for t in chain.transfers_from(payer, from_block=from_block)
            if t["block"] >= from_block
        )
        paid = PayoutLine.objects.filter(
            status=PayoutLine.Status.PAID, transaction__chain_key=chain.key, transaction__payer=payer
        ).values_list("transaction__tx_hash", "address", "amount")
        in_ledger = Counter(
            (tx_hash.lower(), address.lower(), int(amount)) for tx_hash, address, amount in paid
        )
        outside = list(outside_transfers_of(identity).filter(block_number__gte=from_block))
        acknowledged = Counter(
            (ack.tx_hash.lower(), t["receiver"].lower(), int(t["value"]))
            for ack in outside
            for t in ack.transfers
        )
        explained = on_chain & acknowledged
        extra = on_chain - in_ledger - explained
        missing = in_ledger - on_chain
        out = self.stdout
        out.write(
            f"chain {chain.chain_id} token {chain.token.address} payer {payer}: "
            f"{sum(on_chain.values())} transfers on chain, "
            f"{sum(in_ledger.values())} paid lines in the ledger, "
            f"{sum(explained.values())} acknowledged outside transfers"
        )
        for ack in outside:
            who = ack.acknowledged_by.email if ack.acknowledged_by else "an operator"
            out.write(
                f"acknowledged: {ack.tx_hash} by {who} at {ack.acknowledged_at:%Y-%m-%d %H:%M}: {ack.reason}"
            )
        for (tx_hash, receiver, value), count in sorted(extra.items()):
            out.write(f"not in the ledger: {tx_hash} -> {receiver} {value} (x{count})")
        if extra:
            out.write(
                "a transfer made outside the platform: once you know why, "
                "manage.py payouts_acknowledge_transfer <hash> --reason '...'"
            )
        for (tx_hash, receiver, value), count in sorted(missing.items()):
            out.write(f"not on chain: {tx_hash} -> {receiver} {value} (x{count})")
        if extra or missing:
            out.write(f"{sum(extra.values()) + sum(missing.values())} differences")
            sys.exit(1)
        out.write("no differences")
