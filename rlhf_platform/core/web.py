"""Glue between the services and the HTML views.

Services refuse with :class:`ApplicationError` or Django's ``ValidationError``; a page shows
that refusal next to the form field it is about, so that a person can correct the one thing
that is wrong without retyping the rest. Object-access errors (404/403) become Django's own
``Http404``/``PermissionDenied`` so that pages answer like any other Django view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import wraps
from typing import NoReturn

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from rlhf_platform.accounts.roles import Action, principal_may
from rlhf_platform.core.exceptions import ApplicationError


def _add(form: forms.BaseForm, field: str | None, message: str, nested: Mapping[str, Sequence]) -> None:
    if field in (None, NON_FIELD_ERRORS):
        form.add_error(None, message)
        return
    # Nested service fields are dotted: "links.0.url" is the url of the first link row.
    head, _, rest = field.partition(".")
    if rest and head in nested:
        index, _, subfield = rest.partition(".")
        rows = nested[head]
        if index.isdigit() and int(index) < len(rows):
            row = rows[int(index)]
            _add(row, subfield or None, message, {})
            return
    if head in form.fields:
        form.add_error(head, message)
    else:
        form.add_error(None, message)


def form_add_service_error(
    form: forms.BaseForm,
    exc: ApplicationError | ValidationError,
    *,
    nested: Mapping[str, Sequence[forms.BaseForm]] | None = None,
) -> None:
    """Attach a service's refusal to the form field it names (the form's top otherwise).

    ``nested`` maps a list-valued service argument to the row forms it was built from, in the
    same order, so that an error on ``links.1.url`` lands on the second row's url field.
    """
    nested = nested or {}
    if isinstance(exc, ApplicationError):
        _add(form, exc.field, exc.message, nested)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for err in errors:
                for message in err.messages:
                    _add(form, field, message, nested)
        return
    for message in exc.messages:
        form.add_error(None, message)


def raise_as_http(exc: ApplicationError) -> NoReturn:
    """Re-raise an object-access refusal the way Django pages answer it."""
    if exc.status_code == 404:
        raise Http404(exc.message) from exc
    if exc.status_code == 403:
        raise PermissionDenied(exc.message) from exc
    raise exc


def action_required(action: Action, **by_method: Action):
    """A page for the roles that hold ``action`` in the role table (``post=``... another action
    for that method). Visitors are sent to log in; a logged-in person without the action gets
    403. The view keeps ``required_actions`` for the role matrix test."""
    actions = {method.upper(): value for method, value in by_method.items()}

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            needed = actions.get(request.method, action)
            if principal_may(request.user, needed):
                return view(request, *args, **kwargs)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise PermissionDenied(f"This page needs {needed.value}.")

        wrapper.required_actions = {"*": action, **actions}
        return wrapper

    return decorate


# --- Confirmation of an action that moves money or cannot be undone -------------------------

CONFIRM_FIELD = "confirm"


def confirmed(request: HttpRequest) -> bool:
    """Whether a POST comes from a confirmation page (``confirm_page``), not the first click."""
    return request.POST.get(CONFIRM_FIELD) == "yes"


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    action: str,
    button: str,
    back: str,
    details: Sequence[tuple[str, str]] = (),
    note: str = "",
    fields: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The step between a click and an action, without JavaScript: what will happen
    (``details``, ``note``) and a form that posts ``fields`` again to ``action`` with
    ``confirm=yes``, or a way back."""
    context = {
        "title": title,
        "action": action,
        "button": button,
        "back": back,
        "details": details,
        "note": note,
        "fields": dict(fields or {}),
        "confirm_field": CONFIRM_FIELD,
    }
    return render(request, "confirm_action.html", context)
