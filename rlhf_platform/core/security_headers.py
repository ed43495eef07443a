"""The Content-Security-Policy header, on every response in production.

The pages load scripts and styles from this origin only (``frontend_templates/static``), with
no inline script, no inline event handler and no ``eval``: an injected ``<script>`` or
``onerror=`` does not run even if some markup escaped the template's escaping. The policy is
``CONTENT_SECURITY_POLICY`` (settings; environment ``CONTENT_SECURITY_POLICY`` replaces it
whole); ``connect-src`` gains this host's websocket origin (the live notifications), because
not every browser counts ``ws:``/``wss:`` as ``'self'``.

With ``DEBUG`` on no policy is sent: Django's debug pages and DRF's browsable API, which exist
only there, carry inline scripts. A view may set a policy of its own (:func:`csp_override`),
as the API documentation does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings

from rlhf_platform.core.middleware import HybridMiddleware

HEADER = "Content-Security-Policy"


def _policy_for(request) -> str:
    policy = settings.CONTENT_SECURITY_POLICY
    try:
        host = request.get_host()
    except Exception:  # a Host outside ALLOWED_HOSTS: Django answers 400 anyway
        return policy
    websocket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
    return policy.replace("connect-src 'self'", f"connect-src 'self' {websocket}", 1)


def _add_policy(request, response):
    if not settings.DEBUG and HEADER not in response:
        response[HEADER] = _policy_for(request)
    return response


class ContentSecurityPolicyMiddleware(HybridMiddleware):
    """Outermost but one (after ``SecurityMiddleware``): no I/O, so no thread hop under ASGI."""

    def sync_call(self, request):
        return _add_policy(request, self.get_response(request))

    async def async_call(self, request):
        return _add_policy(request, await self.get_response(request))


def csp_override(policy: str) -> Callable:
    """Give one view its own policy (the middleware leaves a header a view set alone)."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if not settings.DEBUG:
                response[HEADER] = policy
            return response

        return wrapped

    return decorate
