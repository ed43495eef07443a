"""``{{ amount|tokens }}`` and ``{{ amount|tokens_exact }}``: base units shown as tokens
(``rewards.tokens``), the one way pages show an amount. An empty value shows as empty."""

from __future__ import annotations

from typing import Any

from django import template

from rewards.tokens import format_tokens, format_tokens_exact

register = template.Library()


@register.filter(name="tokens")
def tokens(amount: Any) -> str:
    return "" if amount is None or amount == "" else format_tokens(amount)


@register.filter(name="tokens_exact")
def tokens_exact(amount: Any) -> str:
    return "" if amount is None or amount == "" else format_tokens_exact(amount)
