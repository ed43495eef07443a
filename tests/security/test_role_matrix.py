"""The role matrix, generated from the one role table (``rlhf_platform.accounts.roles``).

Every API endpoint and every page declares the action each HTTP method needs; for every role
and every (endpoint, method) the test calls it as a principal holding that role and expects
exactly what ``ROLE_ACTIONS`` says: refused (401/403 with a permission code, or the log-in
redirect for a page) when the role lacks the action, anything else (200, 400, 404, ...) when it
holds it. Path ids are fresh UUIDs, so an allowed call finds nothing and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from rlhf_platform import api_urls, web_urls
from rlhf_platform.accounts.models import LabMembership, User
from rlhf_platform.accounts.permissions import ActionPermission
from rlhf_platform.accounts.roles import ROLE_ACTIONS, UNDECORATED_PAGES, Action, Role, roles_of, roles_with
from tests.factories import (
    ExpertProfileFactory,
    LabFactory,
    LabMembershipFactory,
    StaffFactory,
    UserFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
REFUSAL_CODES = {"not_authenticated", "authentication_failed", "permission_denied"}
# Lab API keys authenticate the API only; pages know people and visitors.
PAGE_ROLES = [role for role in Role if role not in (Role.LAB_KEY_READ, Role.LAB_KEY_WRITE)]


# --- One principal per role -------------------------------------------------------------------


def _person(role: Role) -> User:
    if role == Role.EXPERT:
        return ExpertProfileFactory().user
    if role == Role.LAB_MEMBER:
        return LabMembershipFactory(role=LabMembership.Role.MEMBER).user
    if role == Role.LAB_OWNER:
        return LabMembershipFactory(role=LabMembership.Role.OWNER).user
    if role == Role.REVIEWER:
        return StaffFactory()
    if role == Role.ADMIN:
        return StaffFactory(staff_role=User.StaffRole.ADMIN)
    if role == Role.SUPERUSER:
        return UserFactory(is_superuser=True)  # no staff role: the table alone makes it strong
    raise AssertionError(role)


def _principal(role: Role):
    """A user, an API key, or None (anonymous) that holds ``role``."""
    if role == Role.ANONYMOUS:
        return None
    if role in (Role.LAB_KEY_READ, Role.LAB_KEY_WRITE):
        scope = "read" if role == Role.LAB_KEY_READ else "write"
        return make_api_key(LabFactory(), scopes=[scope])
    return _person(role)


def _api_client(role: Role) -> APIClient:
    client = APIClient()
    principal = _principal(role)
    if isinstance(principal, tuple):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {principal[1]}")
    elif principal is not None:
        client.force_login(principal)
    return client


def _page_client(role: Role) -> Client:
    client = Client()
    principal = _principal(role)
    if principal is not None:
        client.force_login(principal)
    return client


# --- What every route declares ------------------------------------------------------------------


def _walk(patterns, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns)
        else:
            found.append((pattern.name, pattern))
    return found


def _url(name: str, pattern: URLPattern) -> str:
    kwargs = {}
    for arg, converter in pattern.pattern.converters.items():
        kind = type(converter).__name__
        # A UUID that names nothing, the same in every process (parallel workers must collect
        # the same test ids).
        nothing = uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{arg}")
        kwargs[arg] = {"UUIDConverter": nothing, "IntConverter": 0}.get(kind, "no-such-thing")
    return reverse(name, kwargs=kwargs)


class _FakeRequest:
    def __init__(self, method: str) -> None:
        self.method = method


def _api_actions(pattern: URLPattern) -> dict[str, list[Action]]:
    """The table actions a DRF view's permissions need, by method."""
    view_class = pattern.callback.view_class
    actions = {}
    for method in HTTP_METHODS:
        if not hasattr(view_class, method):
            continue
        view = view_class()
        view.request = _FakeRequest(method.upper())
        permissions = view.get_permissions()
        actions[method] = [
            p.action_for(method.upper()) for p in permissions if isinstance(p, ActionPermission)
        ]
    return actions


API_ROUTES = _walk(api_urls.urlpatterns)
API_CASES = [
    (name, method, _url(name, pattern), actions[0] if len(actions) == 1 else None)
    for name, pattern in API_ROUTES
    for method, actions in _api_actions(pattern).items()
]


def _page_action(name: str, callback: Callable, method: str) -> Action | None:
    declared = getattr(callback, "required_actions", None)
    if declared is None:
        return UNDECORATED_PAGES.get(name)
    return declared.get(method.upper(), declared["*"])


PAGE_ROUTES = [(name, pattern) for name, pattern in _walk(web_urls.urlpatterns) if name]
PAGE_CASES = [
    (name, method, _url(name, pattern), _page_action(name, pattern.callback, method))
    for name, pattern in PAGE_ROUTES
    for method in ("get", "post")
]


def test_the_table_covers_every_role_and_every_action():
    assert set(ROLE_ACTIONS) == set(Role)
    granted = set().union(*ROLE_ACTIONS.values())
    assert granted == set(Action), f"actions no role holds: {sorted(set(Action) - granted)}"


def test_every_api_endpoint_method_needs_exactly_one_table_action():
    undeclared = [(name, method) for name, method, _url, action in API_CASES if action is None]
    assert API_CASES and not undeclared, f"endpoints without one table action: {undeclared}"


def test_every_page_needs_a_table_action():
    undeclared = sorted({name for name, _method, _url, action in PAGE_CASES if action is None})
    assert PAGE_CASES and not undeclared, f"pages without a table action: {undeclared}"


def test_payout_runs_are_admin_only():
    for action in (Action.PAYOUT_RUN_START, Action.PAYOUT_RUN_RETRY, Action.PAYOUT_RUN_APPROVE):
        assert set(roles_with(action)) == {Role.ADMIN, Role.SUPERUSER}, action


def test_stronger_roles_hold_everything_weaker_ones_do():
    chain = [Role.EXPERT, Role.REVIEWER, Role.ADMIN, Role.SUPERUSER]
    for weaker, stronger in zip(chain, chain[1:], strict=False):
        assert ROLE_ACTIONS[weaker] <= ROLE_ACTIONS[stronger], (weaker, stronger)
    assert ROLE_ACTIONS[Role.LAB_MEMBER] <= ROLE_ACTIONS[Role.LAB_OWNER]


@pytest.mark.parametrize("role", list(Role))
def test_each_principal_holds_its_role(role):
    principal = _principal(role)
    if isinstance(principal, tuple):
        from rlhf_platform.accounts.authentication import LabPrincipal

        principal = LabPrincipal(principal[0])
    assert role in roles_of(principal)
    assert all(ROLE_ACTIONS[held] <= ROLE_ACTIONS[role] for held in roles_of(principal)), roles_of(principal)


# --- The generated matrix -----------------------------------------------------------------------


def _refused_api(response) -> bool:
    if response.status_code not in (401, 403):
        return False
    try:
        codes = {error["code"] for error in response.json()["errors"]}
    except (ValueError, KeyError, TypeError):
        return True
    return bool(codes & REFUSAL_CODES)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "method", "url", "action"), API_CASES)
def test_api_matrix(role, name, method, url, action):
    response = getattr(_api_client(role), method)(url, data={}, format="json")
    allowed = action in ROLE_ACTIONS[role]
    assert _refused_api(response) is not allowed, (
        f"{role.value} {method.upper()} {name} ({action}): expected {'allowed' if allowed else 'refused'}, "
        f"got {response.status_code} {response.content[:200]!r}"
    )


def _refused_page(response) -> bool:
    """403, or sent to log in and come back (``?next=``): a log-out's plain redirect to the
    log-in page is its answer, not a refusal."""
    if response.status_code == 403:
        return True
    return response.status_code == 302 and response["Location"].startswith(f"{reverse('login')}?next=")


@pytest.mark.parametrize("role", PAGE_ROLES)
@pytest.mark.parametrize(("name", "method", "url", "action"), PAGE_CASES)
def test_page_matrix(role, name, method, url, action):
    response = getattr(_page_client(role), method)(url)
    if response.status_code == 405:
        pytest.skip(f"{name} does not answer {method.upper()} (405 before any role is asked)")
    allowed = action in ROLE_ACTIONS[role]
    assert _refused_page(response) is not allowed, (
        f"{role.value} {method.upper()} {name} ({action}): expected {'allowed' if allowed else 'refused'}, "
        f"got {response.status_code}"
    )
