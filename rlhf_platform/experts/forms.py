"""Forms of the expert and staff pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms

from rlhf_platform.experts.models import Credential, Level
from rlhf_platform.experts.selectors import domains_active
from rlhf_platform.experts.services import LINK_KINDS

DATE_WIDGET = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
EVIDENCE_ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"


class ProfileForm(forms.Form):
    bio = forms.CharField(
        label="Bio", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )
    claimed_domains = forms.ModelMultipleChoiceField(
        label="Domains you work in",
        queryset=domains_active(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Hold Ctrl (Cmd on a Mac) to choose several.",
    )


class LinkForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind",
        choices=[(kind, kind.replace("_", " ")) for kind in sorted(LINK_KINDS)],
        initial="orcid",
    )
    url = forms.CharField(label="URL", max_length=500, required=False)


# A row whose URL is left empty is dropped; that is how a link is removed.
LinkFormSet = forms.formset_factory(LinkForm, extra=2, max_num=10, validate_max=True)


class CredentialForm(forms.Form):
    domain = forms.ModelChoiceField(label="Domain", queryset=domains_active(), empty_label="— choose —")
    kind = forms.ChoiceField(label="Kind", choices=Credential.Kind.choices)
    title = forms.CharField(label="Title", max_length=200, help_text="e.g. MD, PhD in Mathematics.")
    issuer = forms.CharField(label="Issuer", max_length=200, help_text="University, board, employer...")
    identifier = forms.CharField(
        label="Identifier", max_length=200, required=False, help_text="Licence number, DOI, certificate id..."
    )
    issued_on = forms.DateField(label="Issued on", widget=DATE_WIDGET)
    expires_on = forms.DateField(label="Expires on", required=False, widget=DATE_WIDGET)
    evidence = forms.FileField(
        label="Evidence",
        required=False,
        widget=forms.FileInput(attrs={"accept": EVIDENCE_ACCEPT}),
        help_text="PDF, PNG or JPEG. Only you and platform staff can download it.",
    )


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", choices=[("", "all")] + list(Credential.Status.choices), required=False
    )


class ApproveForm(forms.Form):
    level = forms.TypedChoiceField(
        label="Level",
        coerce=int,
        choices=[(level.value, f"{level.value} — {level.label}") for level in Level],
    )


class ReasonForm(forms.Form):
    # Optional here: the service refuses an empty reason with its own message.
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "required": True}),
        help_text="The expert sees this.",
    )
