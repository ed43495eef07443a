"""The expert's own labels: ``/me/labels/`` (what they labelled, paginated, by project) and
``/me/labels/<assignment id>/`` (one label: the item as they saw it, the label's history, and,
while it is open, the correction form). Both work without JavaScript; the labelling page's
"Undo last label" (key ``u``) opens the second with ``?next=`` back to the queue."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from annotate.label_revisions import MAX_REVISIONS, label_for_expert, label_revise
from annotate.labels import LETTERS
from annotate.my_labels import (
    PAGE_SIZE,
    label_history,
    label_row,
    labels_of_expert,
    projects_labelled_by,
)
from annotate.quality.gold_pool import gold_accuracy
from annotate.quality.views import item_content
from annotate.rendering import render_markdown
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required
from rlhf_platform.experts.selectors import expert_of_user

CHOICE_WORDS = {"tie": "Tie", "both_bad": "Both bad"}
CHOICE_KEYS = {"A": "a", "B": "b", "tie": "t", "both_bad": "x"}  # as on the labelling page


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError):
        return ""


@action_required(A.EXPERT_WORK)
def my_labels(request):
    expert = expert_of_user(request.user)
    context: dict[str, Any] = {"is_expert": expert is not None, "max_revisions": MAX_REVISIONS}
    if expert is not None:
        project_id = _uuid(request.GET.get("project", ""))
        page = Paginator(labels_of_expert(expert=expert, project_id=project_id or None), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context.update(
            {
                "page": page,
                "rows": [label_row(label) for label in page.object_list],
                "projects": projects_labelled_by(expert=expert),
                "selected_project": project_id,
                "accuracy": gold_accuracy(expert=expert),
            }
        )
    return render(request, "annotate/my_labels.html", context)


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""


def form_payload(post, *, schema: dict[str, Any], letters: list[str]) -> dict[str, Any]:
    """The label a correction form posts, in the shape a submit takes (the service validates)."""
    payload: dict[str, Any] = {}
    if schema["kind"] == "pairwise":
        payload["choice"] = post.get("choice") or None
        if post.get("strength"):
            payload["strength"] = _int(post["strength"])
    else:
        places: dict[int, list[str]] = {}
        for letter in letters:
            place = _int(post.get(f"place-{letter}", ""))
            if not isinstance(place, int) or not 1 <= place <= len(letters):
                raise ValidationError(
                    {"ranking": [f"Give response {letter} a place from 1 to {len(letters)}."]}
                )
            places.setdefault(place, []).append(letter)
        payload["ranking"] = [sorted(group) for _, group in sorted(places.items())]
    criteria = schema.get("criteria") or []
    if criteria:
        payload["criteria"] = {
            letter: {c["key"]: _int(post.get(f"criteria-{letter}-{c['key']}", "")) for c in criteria}
            for letter in letters
        }
    payload["rationale"] = post.get("rationale", "")
    return payload


def _int(text: str) -> Any:
    try:
        return int(text)
    except (TypeError, ValueError):
        return text or None


def _errors(exc: Exception) -> dict[str, list[str]]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return {name: [m for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
    if isinstance(exc, ApplicationError):
        return {exc.field or "__all__": [exc.message]}
    return {"__all__": [str(exc)]}


@action_required(A.EXPERT_WORK)
def my_label(request, assignment_id):
    expert = expert_of_user(request.user)
    if expert is None:
        raise Http404("Label not found.")
    try:
        label = label_for_expert(expert=expert, assignment_id=assignment_id)
    except ApplicationError:
        raise Http404("Label not found.") from None
    next_url = _safe_next(request)
    errors: dict[str, list[str]] = {}
    posted: dict[str, Any] | None = None
    status = 200
    schema = label.project.label_schema
    letters = list(LETTERS[: len(label.assignment.shown_order)])
    if request.method == "POST":
        try:
            posted = form_payload(request.POST, schema=schema, letters=letters)
            label_revise(label=label, expert=expert, payload=posted, actor=request.user)
        except (ApplicationError, ValidationError) as exc:
            errors = _errors(exc)
            status = getattr(exc, "status_code", 400)
        else:
            messages.success(request, "Your label is corrected.")
            return redirect(next_url or "my-labels")
        label = label_for_expert(expert=expert, assignment_id=assignment_id)
    row = label_row(label)
    value = row["value"] if posted is None else _posted_value(posted)
    item = label.item
    context = {
        "row": row,
        "history": label_history(label),
        "schema": schema,
        "letters": letters,
        "prompt_messages": item_content(item)["messages"],
        "responses": [
            {"letter": LETTERS[position], "html": mark_safe(render_markdown(item.responses[index]["text"]))}  # noqa: S308 (nh3-sanitised)
            for position, index in enumerate(label.assignment.shown_order)
        ],
        "fields": _fields(schema=schema, letters=letters, value=value),
        "rationale": value.get("rationale") or "",
        "errors": errors,
        "next": next_url,
        "max_revisions": MAX_REVISIONS,
    }
    return render(request, "annotate/my_label.html", context, status=status)


def _posted_value(posted: dict[str, Any]) -> dict[str, Any]:
    return {
        "choice": posted.get("choice"),
        "strength": posted.get("strength"),
        "ranking": posted.get("ranking"),
        "criteria": posted.get("criteria") or {},
        "rationale": posted.get("rationale", ""),
    }


def _fields(*, schema: dict[str, Any], letters: list[str], value: dict[str, Any]) -> dict[str, Any]:
    """What the form's controls need, with the value filled in."""
    fields: dict[str, Any] = {"kind": schema["kind"]}
    if schema["kind"] == "pairwise":
        fields["choices"] = [
            {
                "value": c,
                "text": CHOICE_WORDS.get(c, f"{c} is better"),
                "key": CHOICE_KEYS.get(c, ""),
                "checked": value.get("choice") == c,
            }
            for c in schema.get("choices", [])
        ]
        levels = (schema.get("strength") or {}).get("levels") or []
        fields["levels"] = [
            {"value": n, "text": text, "checked": value.get("strength") == n}
            for n, text in enumerate(levels, 1)
        ]
    else:
        place_of = {letter: n for n, group in enumerate(value.get("ranking") or [], 1) for letter in group}
        fields["places"] = [{"letter": letter, "place": place_of.get(letter, "")} for letter in letters]
        fields["place_max"] = len(letters)
    criteria = schema.get("criteria") or []
    given = value.get("criteria") or {}
    fields["criteria"] = [
        {
            "letter": letter,
            "rows": [
                {
                    "key": c["key"],
                    "text": c.get("label", c["key"]),
                    "options": [
                        {"value": n, "checked": (given.get(letter) or {}).get(c["key"]) == n}
                        for n in range(c.get("min", 1), c["max"] + 1)
                    ],
                }
                for c in criteria
            ],
        }
        for letter in letters
    ]
    fields["rationale_mode"] = (schema.get("rationale") or {}).get("mode", "optional")
    return fields
