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
