"""Small permissions that compose (``permission_classes = [IsLabKey, HasKeyScope]``).

Prefer a list to ``&``: DRF reports the ``message`` of the permission in a list that refused,
while an ``&`` composite loses it.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from rlhf_platform.accounts.authentication import LabPrincipal
from rlhf_platform.accounts.models import User


class IsLabKey(BasePermission):
    """The caller is a lab, through one of its API keys."""

    message = "This endpoint is for labs: send 'Authorization: Bearer <api key>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, LabPrincipal)


class HasKeyScope(BasePermission):
    """Read methods need the ``read`` scope, the others ``write``."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, LabPrincipal):
            return False
        needed = "read" if request.method in SAFE_METHODS else "write"
        self.message = f"This API key lacks the '{needed}' scope."
        return request.user.api_key.has_scope(needed)


class IsPerson(BasePermission):
    """A logged-in person (session), not an API key."""

    message = "Log in to use this endpoint."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_active


class IsReviewer(BasePermission):
    """Platform staff who review credentials (reviewers and admins)."""

    message = "Only platform staff may do this."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_reviewer
