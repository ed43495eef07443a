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
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404

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


def reviewer_required(view):
    """Logged in and platform staff (reviewer or admin); anyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_reviewer:
            raise PermissionDenied("Only platform staff may see this page.")
        return view(request, *args, **kwargs)

    return wrapper
