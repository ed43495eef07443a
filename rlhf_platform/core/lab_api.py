"""The base of every lab endpoint: tenancy enforced once.

A lab endpoint subclasses :class:`LabAPIView`. It gets ``self.lab`` (the lab of the API key)
and fetches rows only through ``access_*_for_lab`` selectors or ``safely_get_queryset`` that
take that lab, so another lab's objects are simply not found (404). Overriding
``get_queryset`` is refused at class creation, as PostHog's routing base does.
"""

from __future__ import annotations

from rest_framework.generics import GenericAPIView
from rest_framework.throttling import SimpleRateThrottle

from rlhf_platform.accounts.models import Lab
from rlhf_platform.accounts.permissions import HasKeyScope, IsLabKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Per-key request rate (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"]``)."""

    scope = "api_key"

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
