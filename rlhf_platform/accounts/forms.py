"""Forms of the account pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from rlhf_platform.accounts.models import ApiKey


class SignupForm(forms.Form):
    email = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    full_name = forms.CharField(
        label="Full name",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password, not all digits.",
    )


class EmailAuthenticationForm(AuthenticationForm):
    """Django's log-in form, by e-mail. E-mails are stored lower-case, so the input is too."""

    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class ApiKeyCreateForm(forms.Form):
    # Both optional here: the service says what is missing, in one place for API and page.
    name = forms.CharField(
        label="Name", max_length=100, required=False, help_text="What the key is for, e.g. 'ingest pipeline'."
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=ApiKey.Scope.choices,
        required=False,
        initial=[ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="read: GET endpoints; write: everything else.",
    )
