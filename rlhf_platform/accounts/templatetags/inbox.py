"""``{% inbox_unread as n %}``: the logged-in person's unread notifications, for the menu."""

from __future__ import annotations

from django import template

from rlhf_platform.accounts.inbox import unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread(context) -> int:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return unread_count(user=user) if user is not None else 0
