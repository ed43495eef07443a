"""The console's forms: a project's settings with its label schema, a batch upload, a member."""

from __future__ import annotations

from django import forms

from annotate.exports import FORMS
from annotate.models import Batch, Project
from rewards.models import RewardPolicy
from rewards.tokens import TokensField
from rlhf_platform.experts.models import Domain
from rlhf_platform.labconsole.preview import schema_parse
from rlhf_platform.webhooks.models import EVENTS


class ProjectForm(forms.Form):
    """The settings a lab sets most; the API's ``PATCH projects/{id}`` takes the rest. Ranges
    are the API's (``annotate.api._ProjectFields``)."""

    name = forms.CharField(max_length=200)
    domain = forms.ChoiceField(help_text="Experts credentialed in this domain label the project.")
    status = forms.ChoiceField(choices=Project.Status.choices, initial=Project.Status.DRAFT)
    min_level = forms.IntegerField(min_value=1, max_value=4, initial=1, label="Minimum expertise level")
    overlap = forms.IntegerField(min_value=1, max_value=20, initial=3, help_text="Labels per item (k).")
    max_overlap = forms.IntegerField(
        min_value=1,
        max_value=20,
        required=False,
        help_text="Labels on hard items at most (default k + 2, at least 5).",
    )
    gold_rate = forms.FloatField(
        min_value=0.0, max_value=0.5, initial=0.1, help_text="Share of gold assignments."
    )
    export_form = forms.ChoiceField(
        choices=[(f, f) for f in FORMS], initial="standard", help_text="TRL's form of the training exports."
    )
    guidelines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, max_length=100_000, help_text="Markdown."
    )
    label_schema = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        help_text="JSON: kind, choices, strength, ranking, criteria, rationale (see the API guide).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = list(
            Domain.objects.filter(is_active=True).order_by("path").values_list("path", "name")
        )

    def clean_label_schema(self):
        schema, errors = schema_parse(self.cleaned_data["label_schema"])
        if errors:
            raise forms.ValidationError([f"{e.field}: {e.message}" for e in errors])
        return schema

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        if values.get("max_overlap") is None:
            values.pop("max_overlap", None)
        return values


class UploadOptionsForm(forms.Form):
    """The upload's options, as the API's query parameters (each optional, with its default)."""

    on_duplicate = forms.ChoiceField(
        choices=[(v, v) for v in Batch.OnDuplicate.values],
        initial=Batch.OnDuplicate.ERROR,
        required=False,
        help_text="An external_id the project already holds: refuse the file (error) or skip the item.",
    )
    priority = forms.IntegerField(
        min_value=-1000, max_value=1000, initial=0, required=False, help_text="Higher is served first."
    )

    def clean_on_duplicate(self):
        return self.cleaned_data.get("on_duplicate") or Batch.OnDuplicate.ERROR

    def clean_priority(self):
        priority = self.cleaned_data.get("priority")
        return 0 if priority is None else priority


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Items file",
        help_text="JSON Lines (.jsonl, one item per line) or JSON (.json, an array of items).",
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.ndjson,.json,application/json"}),
    )
    on_duplicate = UploadOptionsForm.base_fields["on_duplicate"]
    priority = UploadOptionsForm.base_fields["priority"]
    clean_on_duplicate = UploadOptionsForm.clean_on_duplicate
    clean_priority = UploadOptionsForm.clean_priority


class MemberForm(forms.Form):
    email = forms.EmailField(label="E-mail", help_text="Of an existing account.")
    role = forms.ChoiceField(choices=[("member", "member"), ("owner", "owner")], initial="member")


class RewardPolicyForm(forms.Form):
    """A new reward policy version with the terms a lab sets most; the API's
    ``POST projects/{id}/reward-policies`` takes every term."""

    base_rate = TokensField(
        label="Base rate", help_text="Tokens a label, before the level and agreement factors."
    )
    kind = forms.ChoiceField(choices=RewardPolicy.Kind.choices, initial=RewardPolicy.Kind.AGREEMENT)
    level_1 = forms.IntegerField(min_value=0, initial=10_000, label="Level 1 factor (bp)")
    level_2 = forms.IntegerField(min_value=0, initial=12_500, label="Level 2 factor (bp)")
    level_3 = forms.IntegerField(min_value=0, initial=15_000, label="Level 3 factor (bp)")
    level_4 = forms.IntegerField(min_value=0, initial=20_000, label="Level 4 factor (bp)")

    def service_values(self) -> dict:
        data = self.cleaned_data
        return {
            "base_rate": data["base_rate"],
            "kind": data["kind"],
            "level_multipliers_bp": {str(level): data[f"level_{level}"] for level in (1, 2, 3, 4)},
        }


class ExamForm(forms.Form):
    """A new exam from the project's gold items (``exam_create``, as ``POST
    projects/{id}/exams`` with the gold items it copies by default); it replaces the active one."""

    name = forms.CharField(max_length=200, initial="Qualification")
    pass_mark = forms.IntegerField(min_value=1, max_value=100, initial=80, label="Pass mark (%)")
    retry_hours = forms.IntegerField(
        min_value=0, max_value=365 * 24, initial=24, label="Hours before a retry after a fail"
    )
    max_questions = forms.IntegerField(
        min_value=1, max_value=200, required=False, help_text="Questions drawn per attempt; empty: every one."
    )
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=100_000,
        help_text="Markdown, shown before the first question; empty: the project's guidelines.",
    )

    def service_values(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "pass_mark": data["pass_mark"] / 100,
            "retry_delay_seconds": data["retry_hours"] * 3600,
            "max_questions": data["max_questions"],
            "instructions": data["instructions"],
        }


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL", max_length=500, help_text="https:// on a public host; signed POSTs go there."
    )
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENTS], widget=forms.CheckboxSelectMultiple, required=False
    )
