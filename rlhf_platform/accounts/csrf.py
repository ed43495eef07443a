"""CSRF protection for the JSON endpoints a client calls before it has a session."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain
from rest_framework.permissions import SAFE_METHODS, BasePermission

from rlhf_platform.core.exceptions import ApplicationError


def _origin_trusted(request, origin: str) -> bool:
    """Django's rule for an ``Origin``: this site's scheme and host, or CSRF_TRUSTED_ORIGINS
    (which may name ``https://*.example.org``)."""
    if origin == f"{request.scheme}://{request.get_host()}":
        return True
    parsed = urlsplit(origin)
    for trusted in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        allowed = urlsplit(trusted)
        pattern = allowed.netloc[1:] if allowed.netloc.startswith("*") else allowed.netloc
        if parsed.scheme == allowed.scheme and is_same_domain(parsed.netloc, pattern):
            return True
    return False


class NoCrossSiteJson(BasePermission):
    """CSRF protection for endpoints a client calls *before* it has a session: sign-up, log-in,
    password reset. (Once logged in, ``SessionAuthentication`` checks Django's CSRF token.)

    Without it, a form on another site could post an attacker's e-mail and password here and
    log the victim's browser into the attacker's account (login CSRF). Two checks:

    - The body must be ``Content-Type: application/json``. A cross-site HTML form can only
      send form encodings or ``text/plain``; a cross-site script that sends JSON must first
      pass a CORS preflight, and this server approves none. This keeps session-less clients
      (scripts, ``bench/``) to one request, where a token would need a GET first.
    - A browser's ``Origin`` header, when present, must be this site or one of
      ``CSRF_TRUSTED_ORIGINS`` (``Sec-Fetch-Site: cross-site`` is refused too), so that the
      protection holds even if a CORS policy is added one day.
    """

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApplicationError(
                "Send this request as JSON (Content-Type: application/json).",
                code="unsupported_media_type",
                status_code=415,
            )
        origin = request.META.get("HTTP_ORIGIN")
        cross_site = request.META.get("HTTP_SEC_FETCH_SITE") == "cross-site" or (
            origin is not None and not _origin_trusted(request, origin)
        )
        if cross_site:
            raise ApplicationError(
                "Cross-site request refused: send it from this site.", code="csrf_failed", status_code=403
            )
        return True
