"""HTML pages of accounts: sign-up, log-in, home, a lab's API keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from rlhf_platform.accounts.forms import ApiKeyCreateForm, EmailAuthenticationForm, SignupForm
from rlhf_platform.accounts.login import user_login, user_logout
from rlhf_platform.accounts.login_throttle import client_address
from rlhf_platform.accounts.models import Lab, User
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.accounts.selectors import (
    access_api_key_for_lab,
    access_lab_for_user,
    api_keys_for_lab,
    lab_is_owner,
    labs_for_user,
)
from rlhf_platform.accounts.services import api_key_create, api_key_revoke, user_signup
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required, form_add_service_error, raise_as_http


def home(request):
    """Landing page for visitors; everyone else goes to the page they work on."""
    user = request.user
    if not user.is_authenticated:
        return render(request, "accounts/landing.html")
    if user.is_reviewer:
        return redirect("staff-queue")
    if not hasattr(user, "expert_profile") and labs_for_user(user=user).exists():
        # A lab member without an expert profile works in the lab console.
        return redirect("lab-console-index")
    return redirect("profile")


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_signup(**form.cleaned_data, address=client_address(request))
        except (ApplicationError, ValidationError) as exc:
            form_add_service_error(form, exc)
        else:
            login(request, user, backend="rlhf_platform.accounts.backends.PlatformBackend")
            messages.success(request, "Welcome! Add your credentials so that staff can verify them.")
            return redirect("profile")
    return render(request, "accounts/signup.html", {"form": form})


class EmailLoginView(LoginView):
    """The one log-in page (the Django admin sends people here too): throttled and audited."""

    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user_login(request=self.request, user=form.get_user(), via="page")
        return HttpResponseRedirect(self.get_success_url())


class AuditedLogoutView(LogoutView):
    def post(self, request, *args, **kwargs):
        user_logout(request=request, via="page")
        return super().post(request, *args, **kwargs)


def _lab_for(user: User, slug: str, *, owner_only: bool = False) -> Lab:
    try:
        return access_lab_for_user(user=user, slug=slug, owner_only=owner_only)
    except ApplicationError as exc:
        raise_as_http(exc)


@never_cache
@action_required(A.LAB_KEYS_VIEW, post=A.LAB_KEYS_MANAGE)
def lab_keys(request, slug: str):
    """A lab's API keys: members see them, owners create and revoke. A new key's secret is
    in this one response only (never cached, never stored in clear)."""
    lab = _lab_for(request.user, slug)
    form = ApiKeyCreateForm()
    created = None
    if request.method == "POST":
        lab = _lab_for(request.user, slug, owner_only=True)
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            try:
                api_key, secret = api_key_create(
                    lab=lab,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    actor=request.user,
                )
            except (ApplicationError, ValidationError) as exc:
                form_add_service_error(form, exc)
            else:
                created = {"key": api_key, "secret": secret}
                form = ApiKeyCreateForm()
    context = {
        "lab": lab,
        "is_owner": lab_is_owner(user=request.user, lab=lab),
        "keys": api_keys_for_lab(lab=lab),
        "form": form,
        "created": created,
    }
    return render(request, "accounts/lab_keys.html", context)


@require_POST
@action_required(A.LAB_KEYS_MANAGE)
def lab_key_revoke(request, slug: str, key_id):
    lab = _lab_for(request.user, slug, owner_only=True)
    try:
        api_key = access_api_key_for_lab(lab=lab, key_id=key_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    try:
        api_key_revoke(api_key=api_key, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Key {api_key.prefix}… revoked; it no longer works.")
    return redirect("lab-keys", slug=lab.slug)
