"""The base of every lab endpoint: tenancy enforced once.

A lab endpoint subclasses :class:`LabAPIView`. It gets ``self.lab`` (the lab of the API key)
and fetches rows only through ``access_*_for_lab`` selectors or ``safely_get_queryset`` that
take that lab, so another lab's objects are simply not found (404). Overriding
``get_queryset`` is refused at class creation, as PostHog's routing base does.
"""

from __future__ import annotations

from math import ceil

from rest_framework.generics import GenericAPIView
from rest_framework.throttling import SimpleRateThrottle

from rlhf_platform.accounts.models import Lab
from rlhf_platform.accounts.permissions import HasKeyScope, IsLabKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per-key request rate (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"]``). Each
    request it counts carries the key's standing on the request (``rate_limit``), which
    :class:`LabAPIView` answers as ``RateLimit-Limit``, ``RateLimit-Remaining`` and
    ``RateLimit-Reset`` (seconds until the window frees a request), the IETF httpapi draft's
    fields, on every response, a 429 included."""

    scope = "api_key"

    def allow_request(self, request, view):
        allowed = super().allow_request(request, view)
        history = getattr(self, "history", None)
        if getattr(self, "key", None) and history is not None:
            reset = self.duration - (self.now - history[-1]) if history else 0
            request.rate_limit = (self.num_requests, max(0, self.num_requests - len(history)), ceil(reset))
        return allowed

    def get_cache_key(self, request, view):
        api_key = getattr(request.user, "api_key", None)
        if api_key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.pk}


class LabAPIView(GenericAPIView):
    # A list (not ``&``) so that the refusing permission's message reaches the caller.
    permission_classes = [IsLabKey, HasKeyScope]
    throttle_classes = [ApiKeyRateThrottle]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; implement safely_get_queryset(lab) instead "
                "so that every query is scoped to the caller's lab."
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        standing = getattr(request, "rate_limit", None)
        if standing is not None:
            limit, remaining, reset = standing
            response["RateLimit-Limit"] = str(limit)
            response["RateLimit-Remaining"] = str(remaining)
            response["RateLimit-Reset"] = str(max(0, reset))
        return response

    @property
    def lab(self) -> Lab:
        return self.request.user.lab

    @property
    def api_key(self):
        return self.request.user.api_key

    def safely_get_queryset(self, lab: Lab):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular introspects without a caller: an empty queryset of the right model
            # lets it document the filters.
            return self.safely_get_queryset(None).none()
        return self.safely_get_queryset(self.lab)
