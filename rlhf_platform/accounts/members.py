"""A lab's members: owners and members.

Owners manage the lab's API keys and its members; members see both lists (and use the lab's
projects through its API keys). Every change runs under the lab's row lock, so two owners who
demote or remove each other at the same moment cannot leave the lab without an owner: the last
owner can be neither removed nor made a member. Each change writes an audit row.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from rlhf_platform.accounts.models import Lab, LabMembership, User
from rlhf_platform.accounts.roles import Action, action_require
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError


def lab_members(*, lab: Lab) -> QuerySet[LabMembership]:
    return LabMembership.objects.filter(lab=lab).select_related("user").order_by("created_at", "pk")


def access_lab_for_member(*, user: User, lab_id, owner_only: bool = False) -> Lab:
    """The lab if ``user`` belongs to it (as an owner when asked); else 404, so that another
    lab's existence is not revealed. An existing membership without the owner role is 403."""
    membership = LabMembership.objects.filter(user=user, lab_id=lab_id).select_related("lab").first()
    if membership is None:
        raise ApplicationError("Lab not found.", code="not_found", status_code=404)
    if owner_only and membership.role != LabMembership.Role.OWNER:
        raise ApplicationError(
            "Only the lab's owners may do this.", code="permission_denied", status_code=403
        )
    return membership.lab


def access_member(*, lab: Lab, user_id) -> LabMembership:
    membership = lab_members(lab=lab).filter(user_id=user_id).first()
    if membership is None:
        raise ApplicationError("Member not found.", code="not_found", status_code=404)
    return membership


def _role_checked(role: str) -> str:
    if role not in LabMembership.Role.values:
        raise ApplicationError(
            f"role is one of {list(LabMembership.Role.values)}.", code="invalid_choice", field="role"
        )
    return role


def _locked(lab: Lab, actor: User) -> Lab:
    action_require(actor, Action.LAB_MEMBERS_MANAGE)
    access_lab_for_member(user=actor, lab_id=lab.pk, owner_only=True)
    return Lab.objects.select_for_update().get(pk=lab.pk)


def _other_owners(lab: Lab, membership: LabMembership) -> bool:
    return (
        LabMembership.objects.filter(lab=lab, role=LabMembership.Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def lab_member_invite(*, lab: Lab, email: str, role: str, actor: User) -> LabMembership:
    """Add an existing user, found by e-mail, with ``role``. 404 when nobody has that e-mail,
    409 when they are a member already."""
    lab = _locked(lab, actor)
    role = _role_checked(role)
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None:
        raise ApplicationError(
            "No account has this e-mail; ask them to sign up first.",
            code="not_found",
            field="email",
            status_code=404,
        )
    if LabMembership.objects.filter(lab=lab, user=user).exists():
        raise ApplicationError("This person is a member already.", code="already_member", status_code=409)
    membership = LabMembership.objects.create(lab=lab, user=user, role=role)
    audit_record(action="lab.member_add", target=lab, actor=actor, data={"user": str(user.pk), "role": role})
    return membership


@transaction.atomic
def lab_member_role_change(*, membership: LabMembership, role: str, actor: User) -> LabMembership:
    lab = _locked(membership.lab, actor)
    role = _role_checked(role)
    membership = LabMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role:
        return membership
    if membership.role == LabMembership.Role.OWNER and not _other_owners(lab, membership):
        raise ApplicationError(
            "The lab's last owner cannot become a member: make someone else an owner first.",
            code="last_owner",
            field="role",
            status_code=409,
        )
    was = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="lab.member_role",
        target=lab,
        actor=actor,
        data={"user": str(membership.user_id), "from": was, "to": role},
    )
    return membership


@transaction.atomic
def lab_member_remove(*, membership: LabMembership, actor: User) -> None:
    lab = _locked(membership.lab, actor)
    membership = LabMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == LabMembership.Role.OWNER and not _other_owners(lab, membership):
        raise ApplicationError(
            "The lab's last owner cannot be removed: make someone else an owner first.",
            code="last_owner",
            status_code=409,
        )
    audit_record(
        action="lab.member_remove",
        target=lab,
        actor=actor,
        data={"user": str(membership.user_id), "role": membership.role},
    )
    membership.delete()
