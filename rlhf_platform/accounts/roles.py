"""Who may do what: the one table every permission is derived from.

A caller holds one or more :class:`Role` (:func:`roles_of`), each role a set of
:class:`Action` (``ROLE_ACTIONS``). The DRF permission classes
(``rlhf_platform.accounts.permissions``), the page decorator
(``rlhf_platform.core.web.action_required``) and the services that re-check their actor
(:func:`action_require`) all ask :func:`principal_may`; nothing else decides on a role.
``tests/security/test_role_matrix.py`` is generated from this table: it calls every endpoint and
page as every role and expects exactly what the table says.

Actions are capabilities, not objects: ``credential.decide`` lets a reviewer decide on
credentials, and the service still refuses their own (four eyes) and a credential in the wrong
state. A lab member's actions apply to their own labs only; that, too, is checked where the lab
is fetched (``access_lab_for_user``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from rlhf_platform.core.exceptions import ApplicationError


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    EXPERT = "expert"  # every person who logs in: anyone may offer expertise
    LAB_MEMBER = "lab_member"
    LAB_OWNER = "lab_owner"
    LAB_KEY_READ = "lab_key_read"  # a lab's API key with the read scope
    LAB_KEY_WRITE = "lab_key_write"  # a lab's API key with the write scope
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SUPERUSER = "superuser"


class Action(StrEnum):
    # anyone
    ACCOUNT_SIGNUP = "account.signup"
    ACCOUNT_LOGIN = "account.login"
    # a person, about themselves
    ACCOUNT_SELF = "account.self"
    EXPERT_PROFILE = "expert.profile"  # profile, credentials and their evidence, domains
    EXPERT_WORK = "expert.work"  # queue, exams, suspensions and appeals, earnings, wallet
    EXPERT_GOLD_REVIEW = "expert.gold_review"  # answers of one's own retired gold items
    ITEM_ADJUDICATE = "item.adjudicate"  # at authority level in the item's domain only
    # a lab
    LAB_API_READ = "lab.api.read"
    LAB_API_WRITE = "lab.api.write"
    LAB_KEYS_VIEW = "lab.keys.view"
    LAB_KEYS_MANAGE = "lab.keys.manage"
    LAB_MEMBERS_VIEW = "lab.members.view"
    LAB_MEMBERS_MANAGE = "lab.members.manage"  # add, change the role of, remove members
    LAB_CONSOLE_VIEW = "lab.console.view"  # the lab console: projects, progress, quality, exports
    LAB_PROJECTS_MANAGE = "lab.projects.manage"  # in the console: create and edit projects, upload
    LAB_SETTINGS_MANAGE = "lab.settings.manage"  # in the console: webhooks, reward policies
    # platform staff
    STAFF_VIEW = "staff.view"  # review queues, quality dashboards, budgets, payout runs
    DOMAIN_MANAGE = "domain.manage"
    CREDENTIAL_DECIDE = "credential.decide"
    SUSPENSION_DECIDE = "suspension.decide"
    GROUP_DECIDE = "group.decide"  # confirm or clear a suspected group of annotators
    ITEM_ADJUDICATE_ANY = "item.adjudicate_any"  # any domain, whatever the level
    QUALIFICATION_REVOKE = "qualification.revoke"
    EXAM_MANAGE = "exam.manage"
    # platform admins: money
    REWARD_POLICY_CREATE = "reward_policy.create"
    REWARD_CLAWBACK = "reward.clawback"
    BUDGET_CREDIT = "budget.credit"
    BUDGET_CREDIT_APPROVE = "budget.credit_approve"
    PAYOUT_RUN_START = "payout.run_start"
    PAYOUT_RUN_RETRY = "payout.run_retry"
    PAYOUT_RUN_APPROVE = "payout.run_approve"  # approve or cancel a run waiting for approval
    PAYOUT_CHAIN_REBIND = "payout.chain_rebind"  # after a chain reset (docs/operations.md)
    PAYOUT_TRANSFER_ACKNOWLEDGE = "payout.transfer_acknowledge"  # a payer transfer made outside


A = Action
_PUBLIC = frozenset({A.ACCOUNT_SIGNUP, A.ACCOUNT_LOGIN})
_EXPERT = _PUBLIC | {A.ACCOUNT_SELF, A.EXPERT_PROFILE, A.EXPERT_WORK, A.EXPERT_GOLD_REVIEW, A.ITEM_ADJUDICATE}
_LAB_MEMBER = _EXPERT | {A.LAB_KEYS_VIEW, A.LAB_MEMBERS_VIEW, A.LAB_CONSOLE_VIEW, A.LAB_PROJECTS_MANAGE}
_REVIEWER = _EXPERT | {
    A.STAFF_VIEW,
    A.DOMAIN_MANAGE,
    A.CREDENTIAL_DECIDE,
    A.SUSPENSION_DECIDE,
    A.GROUP_DECIDE,
    A.ITEM_ADJUDICATE_ANY,
    A.QUALIFICATION_REVOKE,
    A.EXAM_MANAGE,
}
_ADMIN = _REVIEWER | {
    A.REWARD_POLICY_CREATE,
    A.REWARD_CLAWBACK,
    A.BUDGET_CREDIT,
    A.BUDGET_CREDIT_APPROVE,
    A.PAYOUT_RUN_START,
    A.PAYOUT_RUN_RETRY,
    A.PAYOUT_RUN_APPROVE,
    A.PAYOUT_CHAIN_REBIND,
    A.PAYOUT_TRANSFER_ACKNOWLEDGE,
}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ANONYMOUS: _PUBLIC,
    Role.EXPERT: _EXPERT,
    Role.LAB_MEMBER: _LAB_MEMBER,
    Role.LAB_OWNER: _LAB_MEMBER | {A.LAB_KEYS_MANAGE, A.LAB_MEMBERS_MANAGE, A.LAB_SETTINGS_MANAGE},
    Role.LAB_KEY_READ: _PUBLIC | {A.LAB_API_READ},
    Role.LAB_KEY_WRITE: _PUBLIC | {A.LAB_API_WRITE},
    Role.REVIEWER: _REVIEWER,
    Role.ADMIN: _ADMIN,
    # Everything an admin may do on the platform; Django's admin site has its own checks.
    Role.SUPERUSER: _ADMIN,
}

# Pages whose views carry no ``action_required`` (Django's log-in and log-out views, the
# landing page, sign-up and the password-reset link): the action each stands for, so that the
# role matrix covers them too. Every other page declares its action on the view.
UNDECORATED_PAGES: dict[str, Action] = {
    "home": Action.ACCOUNT_LOGIN,
    "signup": Action.ACCOUNT_SIGNUP,
    "login": Action.ACCOUNT_LOGIN,
    "logout": Action.ACCOUNT_LOGIN,
    "password-reset": Action.ACCOUNT_LOGIN,
    "password-reset-confirm": Action.ACCOUNT_LOGIN,
}

# The roles that need a database read to know (lab membership): asked only when no cheaper
# role of the caller already grants the action.
_LAB_ROLES = (Role.LAB_MEMBER, Role.LAB_OWNER)


def _person_roles(user: Any) -> set[Role]:
    roles = {Role.EXPERT}
    staff_role = getattr(user, "staff_role", "")
    if staff_role == "reviewer":
        roles.add(Role.REVIEWER)
    elif staff_role == "admin":
        roles.add(Role.ADMIN)
    if getattr(user, "is_superuser", False):
        roles.add(Role.SUPERUSER)
    return roles


def _lab_roles(user: Any) -> set[Role]:
    from rlhf_platform.accounts.models import LabMembership

    found = set(LabMembership.objects.filter(user_id=user.pk).values_list("role", flat=True))
    roles = set()
    if found:
        roles.add(Role.LAB_MEMBER)
    if LabMembership.Role.OWNER in found:
        roles.add(Role.LAB_OWNER)
    return roles


def _cheap_roles(principal: Any) -> set[Role]:
    api_key = getattr(principal, "api_key", None)
    if api_key is not None:  # a lab, through one of its keys
        roles = set()
        if api_key.has_scope("read"):
            roles.add(Role.LAB_KEY_READ)
        if api_key.has_scope("write"):
            roles.add(Role.LAB_KEY_WRITE)
        return roles or {Role.ANONYMOUS}
    if principal is None or not getattr(principal, "is_authenticated", False):
        return {Role.ANONYMOUS}
    if not getattr(principal, "is_active", False):
        return {Role.ANONYMOUS}
    return _person_roles(principal)


def roles_of(principal: Any) -> set[Role]:
    """Every role the caller holds: a person, a lab's API key, or nobody (anonymous)."""
    roles = _cheap_roles(principal)
    if Role.EXPERT in roles:
        roles |= _lab_roles(principal)
    return roles


def principal_may(principal: Any, action: Action) -> bool:
    """Whether one of the caller's roles holds ``action``."""
    roles = _cheap_roles(principal)
    if any(action in ROLE_ACTIONS[role] for role in roles):
        return True
    if Role.EXPERT in roles and any(action in ROLE_ACTIONS[role] for role in _LAB_ROLES):
        return any(action in ROLE_ACTIONS[role] for role in _lab_roles(principal))
    return False


def roles_with(action: Action) -> list[Role]:
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


def action_require(principal: Any, action: Action) -> None:
    """Refuse (403 ``permission_denied``) unless the caller may do ``action``: services call it
    so that no transport can skip the check."""
    if not principal_may(principal, action):
        allowed = ", ".join(role.value for role in roles_with(action))
        raise ApplicationError(
            f"Only {allowed} may do this ({action.value}).", code="permission_denied", status_code=403
        )
