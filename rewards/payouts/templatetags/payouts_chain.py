"""``{% chain_identity_banner %}``: on staff's payout pages, whether the node still is the chain
the payouts were recorded on, and what to do when it is not."""

from __future__ import annotations

from django import template

from rewards.payouts.chain_identity import chain_identity_status

register = template.Library()


@register.inclusion_tag("payouts/chain_identity_banner.html")
def chain_identity_banner() -> dict:
    return {"identity": chain_identity_status()}
