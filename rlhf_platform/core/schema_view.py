"""``GET /api/schema/``: the OpenAPI schema, generated and rendered once per process and format.

The schema is public and the same for every caller (``SERVE_PUBLIC``), and generating and
rendering it costs a few hundred milliseconds of CPU (``python -m bench.public_endpoints``): a
flood of anonymous requests would otherwise keep every core busy. So each process keeps the
rendered bytes of each format it served (at most one per renderer: YAML and JSON, each under two
media types) and answers later requests from them with the same headers. The first requests of
a format wait for one rendering rather than run their own.

What varies the schema is fixed here: ``?lang=`` is not applied (the schema's text is English)
and the API version is the view's own, never a query parameter, so that no request can make the
process generate, or keep, another copy.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView
from rest_framework.response import Response

# The headers a rendered schema is answered with (Vary comes from the view, as on any answer).
_HEADERS = ("Content-Type", "Content-Disposition")


class SchemaView(SpectacularAPIView):
    _rendered: ClassVar[dict[type, tuple[bytes, dict[str, str]]]] = {}
    _rendering: ClassVar[threading.Lock] = threading.Lock()

    @extend_schema(**SCHEMA_KWARGS)  # as the parent's: left out of the schema it serves
    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        kind = type(request.accepted_renderer)
        kept = self._rendered.get(kind)
        if kept is None:
            with self._rendering:
                kept = self._rendered.get(kind)
                if kept is None:
                    kept = self._rendered[kind] = self._render(request)
        content, headers = kept
        response = HttpResponse(content)
        for name, value in headers.items():
            response[name] = value
        return response

    def _render(self, request) -> tuple[bytes, dict[str, str]]:
        version = self.api_version
        generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
        filename = self._get_filename(request, version)
        response = Response(
            data=generator.get_schema(request=request, public=self.serve_public),
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )
        # As DRF's finalize_response would, with the renderer's own media type (not the
        # client's Accept, whose parameters are the client's to choose).
        response.accepted_renderer = request.accepted_renderer
        response.accepted_media_type = request.accepted_renderer.media_type
        response.renderer_context = self.get_renderer_context()
        response.render()
        return response.content, {name: response[name] for name in _HEADERS if name in response}

    @classmethod
    def forget(cls) -> None:
        """Drop the rendered schemas (tests that change the API)."""
        cls._rendered.clear()
