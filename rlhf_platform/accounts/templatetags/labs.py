"""``{% lab_menu as nav %}``: the labs of the logged-in person, for the menu: ``nav.labs``
(at most a few, by name) and ``nav.expert`` (whether they also have an expert profile; a lab
member without one gets the lab's menu instead of the expert's)."""

from __future__ import annotations

from django import template

from rlhf_platform.accounts.selectors import labs_for_user

register = template.Library()

MENU_LABS = 6


@register.simple_tag(takes_context=True)
def lab_menu(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or not user.is_authenticated:
        return {"labs": [], "expert": False}
    cached = getattr(request, "_lab_menu", None)
    if cached is None:
        cached = {
            "labs": list(labs_for_user(user=user)[:MENU_LABS]),
            "expert": hasattr(user, "expert_profile"),
        }
        if request is not None:
            request._lab_menu = cached
    return cached
