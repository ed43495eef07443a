"""Telling each expert what happened to their payout: sent, paid, or failed and back to payable.

A notice goes to every expert with a line in the transaction, into their inbox and live over the
socket (:func:`~rlhf_platform.accounts.notifications.notify_on_commit`). It must be called inside
the database transaction that makes the state change, after the change is known to be this
caller's (a conditional update that updated the row, or a locked row that was not terminal yet):
the notice is then stored with the change, dropped with it on a rollback, and a resumed run, which
finds the state already changed, sends none. So each expert hears of each state once.

Failures before a transaction is signed (a batch that would revert, a halted run) are not told:
nothing left the expert's balance, and the amount is paid by a later run.
"""

from __future__ import annotations

from django.urls import reverse

from rewards.payouts.models import PayoutLine, PayoutTransaction
from rewards.tokens import format_tokens
from rlhf_platform.accounts.notifications import notify_on_commit, user_group

SENT, CONFIRMED, FAILED, LOST = "sent", "confirmed", "failed", "lost"

_TEXT = {
    SENT: "Your payout of {amount} tokens was sent to your wallet {address}; it is paid once the "
    "chain confirms it.",
    CONFIRMED: "Your payout of {amount} tokens to your wallet {address} is confirmed on the chain.",
    FAILED: "Your payout of {amount} tokens did not go through; the amount is back in your payable "
    "balance and a later run pays it.",
    # Sent as payout.failed: the chain that held it was reset (a development node restarted).
    LOST: "Your payout of {amount} tokens was lost with a chain that was reset; the amount is back in "
    "your payable balance and a later run pays it.",
}


def payout_notify(*, tx: PayoutTransaction, state: str, lines: list[PayoutLine] | None = None) -> int:
    """Notify the expert of every line (the transaction's reserved lines unless ``lines`` is given)
    that their payout is now ``state`` (``sent``, ``confirmed``, ``failed``; ``lost`` is told as
    failed, in its own words). Returns how many experts were told."""
    if lines is None:
        lines = list(tx.lines.filter(status=PayoutLine.Status.RESERVED).select_related("expert"))
    link_base = reverse("my-payouts")
    for line in lines:
        event = {
            "type": f"payout.{FAILED if state == LOST else state}",
            "payout": str(line.pk),
            "amount": str(line.amount),
            "tx_hash": tx.tx_hash or "",
            "message": _TEXT[state].format(amount=format_tokens(line.amount), address=line.address),
            "link": f"{link_base}#payout-{line.pk}",
        }
        notify_on_commit(user_group(line.expert.user_id), event)
    return len(lines)
