"""HTML pages to change a password (logged in) and to reset a forgotten one by e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from rlhf_platform.accounts.forms import NewPasswordForm, PasswordChangeForm, PasswordResetRequestForm
from rlhf_platform.accounts.passwords import (
    password_reset_user,
    user_password_change,
    user_password_reset,
    user_password_reset_request,
)
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error

RESET_SENT = (
    "If an account exists for that e-mail address, a link to reset its password is on its way. "
    "It works for an hour, once."
)


@sensitive_post_parameters()
@never_cache
@action_required(A.ACCOUNT_SELF)
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_password_change(
                request=request,
                user=request.user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                via="page",
            )
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, "Password changed. Your other sessions have been logged out.")
            return redirect("profile")
    return render(request, "accounts/password_change.html", {"form": form})


@sensitive_post_parameters()
@never_cache
def password_reset_request(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_password_reset_request(request=request, email=form.cleaned_data["email"], via="page")
        except ApplicationError as exc:
            form_add_service_error(form, exc)
        else:
            messages.info(request, RESET_SENT)
            return redirect("login")
    return render(request, "accounts/password_reset_request.html", {"form": form})


@sensitive_post_parameters()
@never_cache
def password_reset_confirm(request, uidb64: str, token: str):
    try:
        password_reset_user(uidb64=uidb64, token=token)
    except ApplicationError as exc:
        return render(request, "accounts/password_reset_confirm.html", {"invalid": exc.message}, status=400)
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_password_reset(
                request=request,
                uidb64=uidb64,
                token=token,
                new_password=form.cleaned_data["new_password"],
                via="page",
            )
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, "Password reset. Log in with the new one.")
            return redirect("login")
    return render(request, "accounts/password_reset_confirm.html", {"form": form})
