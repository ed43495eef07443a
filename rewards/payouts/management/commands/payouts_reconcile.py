"""``manage.py payouts_reconcile``: the token's Transfer events from the payer against the
ledger's paid payout lines. Prints every difference; exits 1 when there is one.

Compared, transaction by transaction, as (transaction hash, receiver, amount):
* a transfer on chain that no paid line records ("not in the ledger": the key used by hand,
  or a transaction the platform believes failed), and
* a paid line with no such transfer on chain ("not on chain").
Lines of runs planned on another chain (an in-process chain from before a restart) are not
compared: that chain no longer exists.
"""

from __future__ import annotations

import sys
from collections import Counter

from django.core.management.base import BaseCommand

from rewards.chain import chain_get
from rewards.payouts.models import PayoutLine


class Command(BaseCommand):
    help = "Compare the token's Transfer events from the payer with the ledger's paid payouts."

    def add_arguments(self, parser):
        parser.add_argument("--from-block", type=int, default=0, help="first block to read events from")

    def handle(self, *args, from_block: int, **options):
        chain = chain_get()
        payer = chain.payer.address
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
        extra = on_chain - in_ledger
        missing = in_ledger - on_chain
        out = self.stdout
        out.write(
            f"chain {chain.chain_id} token {chain.token.address} payer {payer}: "
            f"{sum(on_chain.values())} transfers on chain, {sum(in_ledger.values())} paid lines in the ledger"
        )
        for (tx_hash, receiver, value), count in sorted(extra.items()):
            out.write(f"not in the ledger: {tx_hash} -> {receiver} {value} (x{count})")
        for (tx_hash, receiver, value), count in sorted(missing.items()):
            out.write(f"not on chain: {tx_hash} -> {receiver} {value} (x{count})")
        if extra or missing:
            out.write(f"{sum(extra.values()) + sum(missing.values())} differences")
            sys.exit(1)
        out.write("no differences")
