"""``manage.py payouts_acknowledge_transfer <tx hash> --reason "..." [--actor admin@example.org]``:
acknowledge a transaction of the payer's key made outside the platform, so that
``payouts_reconcile`` counts its transfers as explained (``rewards.payouts.outside_transfers``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rewards.payouts.outside_transfers import outside_transfer_acknowledge
from rlhf_platform.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Acknowledge a transfer from the payer made outside the platform (with a reason)."

    def add_arguments(self, parser):
        parser.add_argument("tx_hash")
        parser.add_argument("--reason", required=True, help="why the transfer was made outside the platform")
        parser.add_argument("--actor", default="", help="e-mail of the admin who acknowledges it (audit log)")

    def handle(self, *args, tx_hash: str, reason: str, actor: str, **options):
        user = None
        if actor:
            user = get_user_model().objects.filter(email__iexact=actor).first()
            if user is None:
                raise CommandError(f"No user {actor}.")
        try:
            acknowledged = outside_transfer_acknowledge(tx_hash=tx_hash, reason=reason, actor=user)
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        for transfer in acknowledged.transfers:
            self.stdout.write(
                f"acknowledged: {acknowledged.tx_hash} -> {transfer['receiver']} {transfer['value']}"
            )
