"""Staff pages of adjudication: the queue of items whose consensus stayed unsure (oldest first,
per project), and one item with its full content, every label (annotator by pseudonym, their
level in the project's domain), the consensus reached so far, and the decision form, which
goes on to the next item once decided.

The pages only call :func:`annotate.quality.adjudication.item_adjudicate`; its refusals (four
eyes: someone who labelled the item; an item decided meanwhile; a bad decision) are shown on
the page next to the form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from annotate.models import Item, Label, Project
from annotate.quality.adjudication import has_labelled, item_adjudicate
from annotate.quality.selectors import adjudication_items
from annotate.quality.views import item_content
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error
from rlhf_platform.experts.models import Level
from rlhf_platform.experts.selectors import expertise_levels_in_domain

PAGE_SIZE = 50
CHOICE_LABELS = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}


def _letters(item: Item) -> dict[str, str]:
    """Response id → its canonical letter (A is the first response)."""
    return {str(r.get("id")): chr(ord("A") + i) for i, r in enumerate(item.responses or [])}


def ranking_text(item: Item, ranking: list | None) -> str:
    """A ranking of response ids as letters, best first: ``B > A = C``."""
    if not ranking:
        return ""
    letters = _letters(item)
    return " > ".join(" = ".join(letters.get(str(x), str(x)) for x in group) for group in ranking)


class DecisionForm(forms.Form):
    """The decision for one item: a choice and an optional strength (pairwise), or a rank for
    each response, 1 the best (ranking; equal ranks are a tie where the project allows ties)."""

    note = forms.CharField(
        label="Note (kept in the audit log)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 2000}),
    )

    def __init__(self, *args: Any, item: Item, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        schema = item.project.label_schema
        self.pairwise = schema["kind"] == "pairwise"
        fields: dict[str, forms.Field] = {}
        if self.pairwise:
            fields["choice"] = forms.ChoiceField(
                label="Decision",
                choices=[(c, CHOICE_LABELS.get(c, c)) for c in schema.get("choices", [])],
                widget=forms.RadioSelect,
            )
            levels = (schema.get("strength") or {}).get("levels") or []
            if levels:
                fields["strength"] = forms.TypedChoiceField(
                    label="Strength",
                    coerce=int,
                    empty_value=None,
                    required=False,
                    choices=[("", "not stated")] + [(i + 1, name) for i, name in enumerate(levels)],
                    widget=forms.RadioSelect,
                    help_text="How much better the chosen response is (for A or B).",
                )
        else:
            count = len(item.responses or [])
            self.ties_allowed = bool((schema.get("ranking") or {}).get("ties_allowed", True))
            for index in range(count):
                letter = chr(ord("A") + index)
                fields[f"rank_{index}"] = forms.TypedChoiceField(
                    label=f"Rank of response {letter}",
                    coerce=int,
                    choices=[(r, str(r)) for r in range(1, count + 1)],
                    initial=index + 1,
                )
        self.fields = {**fields, **self.fields}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.pairwise and not self.errors and not self.ties_allowed:
            ranks = [data[f"rank_{i}"] for i in range(len(self.item.responses or []))]
            if len(set(ranks)) != len(ranks):
                raise forms.ValidationError("This project allows no ties: give each response its own rank.")
        return data

    def decision(self) -> dict[str, Any]:
        """The decision in the service's canonical terms."""
        data = self.cleaned_data
        if self.pairwise:
            return {"choice": data["choice"], "strength": data.get("strength")}
        ids = [str(r.get("id")) for r in self.item.responses or []]
        ranks = sorted({data[f"rank_{i}"] for i in range(len(ids))})
        return {"ranking": [[ids[i] for i in range(len(ids)) if data[f"rank_{i}"] == rank] for rank in ranks]}


def _project_id(request) -> Any:
    """The ``project`` filter, when it names a project (an unknown value filters nothing)."""
    value = request.GET.get("project") or request.POST.get("project") or ""
    try:
        return Project.objects.filter(pk=value).values_list("pk", flat=True).first() if value else None
    except ValidationError:  # not a UUID
        return None


def _with_project(url: str, project_id: Any) -> str:
    return f"{url}?{urlencode({'project': project_id})}" if project_id else url


@action_required(A.STAFF_VIEW)
def adjudication_queue(request):
    project_id = _project_id(request)
    items = adjudication_items(project_id=project_id).annotate(label_total=Count("labels"))
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    own = set(
        Label.objects.filter(item__in=rows, expert__user_id=request.user.pk).values_list("item_id", flat=True)
    )
    projects = (
        Project.objects.filter(items__state=Item.State.ADJUDICATION)
        .annotate(waiting=Count("items"))
        .order_by("name")
    )
    context = {
        "page": page,
        "rows": [{"item": item, "own": item.pk in own} for item in rows],
        "projects": projects,
        "project_id": project_id,
        "next_item": adjudication_items(project_id=project_id, not_labelled_by=request.user).first(),
    }
    return render(request, "quality/adjudication_queue.html", context)


def _labels(item: Item) -> list[dict[str, Any]]:
    labels = list(Label.objects.filter(item=item).select_related("expert").order_by("created_at", "id"))
    levels = expertise_levels_in_domain(
        expert_ids=[label.expert_id for label in labels], domain=item.project.domain
    )
    strengths = (item.project.label_schema.get("strength") or {}).get("levels") or []
    rows = []
    for label in labels:
        level = levels.get(label.expert_id)
        strength = label.strength
        rows.append(
            {
                "annotator": label.expert.pseudonym,
                "level": f"{level} · {Level(level).label}" if level else "none in force",
                "choice": label.choice,
                "strength": strengths[strength - 1] if strength and strength <= len(strengths) else strength,
                "ranking": ranking_text(item, label.ranking),
                "rationale": label.rationale,
                "excluded": label.excluded_from_consensus,
            }
        )
    return rows


def _render_item(request, item: Item, form: DecisionForm | None, project_id: Any):
    consensus = getattr(item, "consensus", None)
    posterior = sorted(((consensus.posterior or {}).items()), key=lambda kv: -kv[1]) if consensus else []
    labelled = has_labelled(user=request.user, item=item)
    if form is None and item.state == Item.State.ADJUDICATION and not labelled:
        form = DecisionForm(item=item)
    following = adjudication_items(project_id=project_id, not_labelled_by=request.user).exclude(pk=item.pk)
    context = {
        "item": item,
        "content": item_content(item),
        "labels": _labels(item),
        "consensus": consensus,
        "consensus_ranking": ranking_text(item, consensus.ranking) if consensus else "",
        "posterior": posterior,
        "labelled": labelled,
        "form": form,
        "project_id": project_id,
        "queue_url": _with_project(reverse("staff-adjudication"), project_id),
        "next_item": following.first(),
    }
    return render(request, "quality/adjudication_item.html", context)


@action_required(A.STAFF_VIEW, post=A.ITEM_ADJUDICATE_ANY)
def adjudication_item(request, item_id):
    item = Item.objects.select_related("project", "project__domain").filter(uid=item_id).first()
    if item is None:
        raise Http404("Item not found.")
    project_id = _project_id(request)
    if request.method != "POST":
        return _render_item(request, item, None, project_id)
    form = DecisionForm(request.POST, item=item)
    if form.is_valid():
        try:
            item_adjudicate(
                item=item, actor=request.user, decision=form.decision(), note=form.cleaned_data["note"]
            )
        except ApplicationError as exc:
            form_add_service_error(form, exc)
            item.refresh_from_db()
        else:
            messages.success(request, f"Decided item {item.external_id} in “{item.project.name}”.")
            following = adjudication_items(project_id=project_id, not_labelled_by=request.user).first()
            if following is None:
                messages.info(request, "No other item is waiting for you to adjudicate.")
                return redirect(_with_project(reverse("staff-adjudication"), project_id))
            url = reverse("staff-adjudication-item", kwargs={"item_id": following.uid})
            return redirect(_with_project(url, project_id))
    return _render_item(request, item, form, project_id)
