"""System check: several processes without a shared chain each get their own in-process EVM."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register("payouts")
def check_shared_chain(app_configs, **kwargs):
    if settings.REDIS_URL and not settings.CHAIN_RPC_URL:
        return [
            Warning(
                "REDIS_URL is set but CHAIN_RPC_URL is not: every process (web server, Celery "
                "worker) has its own in-process EVM, lost at restart. Payouts then run only in "
                "the web process that staff use ('run now'); scheduled runs in the worker are "
                "skipped.",
                hint=(
                    "Run `manage.py run_dev_chain` (one development chain for every process) and set "
                    "the CHAIN_* values it prints, or point CHAIN_RPC_URL at a node."
                ),
                id="payouts.W001",
            )
        ]
    return []


@register("payouts")
def check_chain_identity(app_configs, **kwargs):
    """At start-up, with a node (CHAIN_RPC_URL): is it still the chain the payouts were recorded
    on? (The in-process chain is new in every process: there the check before each run speaks.)"""
    if not settings.CHAIN_RPC_URL:
        return []
    from django.db import DatabaseError

    from rewards.payouts.chain_identity import (
        ChainIdentityMismatch,
        chain_identity_current,
        chain_identity_verify,
    )

    try:
        if chain_identity_current() is None:
            return []  # recorded when payouts first use the chain
        chain_identity_verify()
    except DatabaseError:
        return []  # not migrated yet: nothing recorded to compare with
    except ChainIdentityMismatch as exc:
        return [
            Warning(
                "PAYOUTS REFUSED: " + exc.message,
                hint="See docs/operations.md, 'The chain was reset': manage.py payouts_chain_rebind.",
                id="payouts.W002",
            )
        ]
    except Exception as exc:  # the node does not answer: say so, the server may still start
        return [
            Warning(
                f"The chain's identity could not be checked: {exc}",
                hint="Payout runs check it again before they sign anything.",
                id="payouts.W003",
            )
        ]
    return []
