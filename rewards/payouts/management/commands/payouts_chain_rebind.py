"""``manage.py payouts_chain_rebind``: recover from a chain reset (``docs/operations.md``).

    manage.py payouts_chain_rebind                      # a dry run: what differs, what is lost
    manage.py payouts_chain_rebind --genesis 0x... --actor admin@example.org

Without ``--genesis`` it only reports. With the node's genesis hash (as the dry run prints it),
it marks our transactions the node does not know as failed (lost with the old chain), puts
their amounts back to payable, completes the runs they held and binds the payouts to the
node's chain (``rewards.payouts.chain_rebind``). ``--actor`` names the admin who decided, for
the audit log.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rewards.payouts.chain_rebind import chain_identity_rebind
from rlhf_platform.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Re-bind the payouts to the node's chain after a reset (a dry run without --genesis)."
    requires_system_checks = []  # payouts.W002 is what this command answers

    def add_arguments(self, parser):
        parser.add_argument("--genesis", default="", help="the node's genesis hash, to confirm")
        parser.add_argument("--actor", default="", help="e-mail of the admin who decided (audit log)")

    def handle(self, *args, genesis: str, actor: str, **options):
        user = None
        if actor:
            user = get_user_model().objects.filter(email__iexact=actor).first()
            if user is None:
                raise CommandError(f"No user {actor}.")
        try:
            report = chain_identity_rebind(genesis_hash=genesis, actor=user)
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        out = self.stdout
        out.write(f"recorded: chain {report.recorded['chain_id']} genesis {report.recorded['genesis_hash']}")
        out.write(f"node:     chain {report.observed['chain_id']} genesis {report.observed['genesis_hash']}")
        for line in report.differences:
            out.write(f"differs: {line}")
        verb = "marked lost" if report.applied else "would be marked lost"
        out.write(f"{len(report.lost_transactions)} transactions {verb}:")
        for tx in report.lost_transactions:
            out.write(f"  {tx['tx_hash']} nonce {tx['nonce']} ({tx['status']})")
        if not report.applied:
            out.write(
                "dry run: nothing changed. To re-bind, after checking the node: "
                f"manage.py payouts_chain_rebind --genesis {report.observed['genesis_hash']} "
                "--actor <admin e-mail>"
            )
            return
        out.write(
            f"re-bound: {report.recredited} re-credited (paid out -> payable), {report.returned} returned "
            f"(in flight -> payable), {report.unsigned_failed} unsigned transactions failed, "
            f"{report.runs_completed} runs completed"
        )
