from __future__ import annotations

from django.db.models import QuerySet

from rlhf_platform.accounts.models import ApiKey, Lab, LabMembership, User
from rlhf_platform.core.exceptions import ApplicationError


def labs_for_user(*, user: User) -> QuerySet[Lab]:
    return Lab.objects.filter(memberships__user=user).order_by("name")


def access_lab_for_user(*, user: User, slug: str, owner_only: bool = False) -> Lab:
    """The lab with this slug if ``user`` belongs to it (as owner when asked); else not found,
    so that another lab's existence is not revealed."""
    memberships = LabMembership.objects.filter(user=user, lab__slug=slug)
    if owner_only:
        memberships = memberships.filter(role=LabMembership.Role.OWNER)
    membership = memberships.select_related("lab").first()
    if membership is None:
        raise ApplicationError("Lab not found.", code="not_found", status_code=404)
    return membership.lab


def api_keys_for_lab(*, lab: Lab) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(lab=lab).order_by("-created_at")


def access_api_key_for_lab(*, lab: Lab, key_id) -> ApiKey:
    api_key = ApiKey.objects.filter(lab=lab, pk=key_id).first()
    if api_key is None:
        raise ApplicationError("API key not found.", code="not_found", status_code=404)
    return api_key


def lab_is_owner(*, user: User, lab: Lab) -> bool:
    return LabMembership.objects.filter(user=user, lab=lab, role=LabMembership.Role.OWNER).exists()
