"""DRF permissions, every one read from the role table (``rlhf_platform.accounts.roles``).

A view says which action each of its methods needs: ``permission_classes = [Allows(A.X)]``,
or ``Allows(A.X, post=A.Y)`` when writing needs more than reading; lab endpoints use
``[IsLabKey, HasKeyScope]`` (read methods need ``lab.api.read``, the others
``lab.api.write``). Every table permission answers ``action_for(method)``, which the role
matrix test reads.

Prefer a list to ``&``: DRF reports the ``message`` of the permission in a list that refused,
while an ``&`` composite loses it.
"""

from __future__ import annotations

from functools import cache

from rest_framework.permissions import SAFE_METHODS, BasePermission

from rlhf_platform.accounts.authentication import LabPrincipal
from rlhf_platform.accounts.roles import Action, principal_may, roles_with


class ActionPermission(BasePermission):
    """Allows the request when one of the caller's roles holds the method's action."""

    actions: dict[str, Action] = {}
    default: Action

    def action_for(self, method: str) -> Action:
        return self.actions.get(method.upper(), self.default)

    def has_permission(self, request, view) -> bool:
        action = self.action_for(request.method)
        if principal_may(request.user, action):
            return True
        allowed = ", ".join(role.value for role in roles_with(action))
        self.message = f"Only {allowed} may do this ({action.value})."
        return False


@cache
def Allows(action: Action, **by_method: Action) -> type[ActionPermission]:  # noqa: N802 (a class)
    """The permission class for ``action`` (``post=``/``patch=``/... override per method)."""
    actions = {method.upper(): value for method, value in by_method.items()}
    suffix = "".join(f"_{m}_{a.value}" for m, a in sorted(actions.items()))
    return type(
        f"Allows_{action.value}{suffix}".replace(".", "_"),
        (ActionPermission,),
        {"default": action, "actions": actions, "__doc__": f"Needs {action.value}."},
    )


class IsLabKey(BasePermission):
    """The caller is a lab, through one of its API keys (a clearer refusal for people)."""

    message = "This endpoint is for labs: send 'Authorization: Bearer <api key>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, LabPrincipal)


class HasKeyScope(ActionPermission):
    """Read methods need ``lab.api.read`` (the key's read scope), the others ``lab.api.write``."""

    default = Action.LAB_API_WRITE

    def action_for(self, method: str) -> Action:
        return Action.LAB_API_READ if method.upper() in SAFE_METHODS else Action.LAB_API_WRITE

    def has_permission(self, request, view) -> bool:
        if principal_may(request.user, self.action_for(request.method)):
            return True
        needed = "read" if request.method in SAFE_METHODS else "write"
        self.message = f"This API key lacks the '{needed}' scope."
        return False
