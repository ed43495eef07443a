"""``Authorization: Bearer <key>`` authentication for labs."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from rlhf_platform.accounts.models import ApiKey, Lab
from rlhf_platform.accounts.services import ApiKeyInvalid, api_key_authenticate


class LabPrincipal:
    """Who is calling when a lab's API key is presented: the lab, through that key.

    Not a ``User``: expert and staff permissions check for a real user and so refuse it.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_reviewer = False
    is_platform_admin = False
    pk = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.lab: Lab = api_key.lab

    def __str__(self) -> str:
        return f"api key {self.api_key.prefix} of {self.lab.slug}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("Empty bearer token: send 'Bearer <api key>'.")
        try:
            api_key = api_key_authenticate(raw_key=raw_key)
        except ApiKeyInvalid as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return LabPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return 'Bearer realm="api"'
