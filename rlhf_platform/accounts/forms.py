"""Forms of the account pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from rlhf_platform.accounts.models import ApiKey, User
from rlhf_platform.core.exceptions import ApplicationError


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

    def clean(self):
        """The password rules here too, whatever else is wrong: the service (user_signup)
        decides, but it is not reached while another field has an error, and the person
        should learn about every field at once."""
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email") or "", full_name=cleaned.get("full_name") or "")
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    """Django's log-in form, by e-mail. E-mails are stored lower-case, so the input is too."""

    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()

    via = "page"

    def clean(self):
        """Through the throttled, audited log-in (rlhf_platform.accounts.login), not
        ``authenticate`` alone; a lock or throttle is said as such, a wrong password as Django
        says it."""
        from rlhf_platform.accounts.login import user_authenticate

        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = user_authenticate(
                    request=self.request, email=email, password=password, via=self.via
                )
            except ApplicationError as exc:
                if exc.code == "invalid_credentials":
                    raise self.get_invalid_login_error() from exc
                raise forms.ValidationError(exc.message, code=exc.code) from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


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


def _password_field(label: str, autocomplete: str = "new-password", **extra) -> forms.CharField:
    return forms.CharField(
        label=label, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}), **extra
    )


class NewPasswordForm(forms.Form):
    """A new password typed twice; the service validates its strength."""

    new_password = _password_field(
        "New password", help_text="At least 8 characters, not a common password, not all digits."
    )
    new_password_confirm = _password_field("New password, again")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_password") != cleaned.get("new_password_confirm"):
            self.add_error("new_password_confirm", "The two passwords differ.")
        return cleaned


class PasswordChangeForm(NewPasswordForm):
    current_password = _password_field("Current password", autocomplete="current-password")
    field_order = ["current_password", "new_password", "new_password_confirm"]


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
