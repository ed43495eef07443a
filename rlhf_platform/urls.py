from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from rlhf_platform.core.health import healthz
from rlhf_platform.core.schema_view import SchemaView
from rlhf_platform.core.security_headers import csp_override

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("rlhf_platform.api_urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    # Swagger UI with its start-up script served as a file (?script), not inline.
    path(
        "api/docs/",
        csp_override(settings.CONTENT_SECURITY_POLICY_API_DOCS)(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("", include("rlhf_platform.web_urls")),
]

# Under /api/ Django's own errors (no route, an escaped exception) use the API's error shape.
handler400 = "rlhf_platform.core.error_views.bad_request"
handler403 = "rlhf_platform.core.error_views.permission_denied"
handler404 = "rlhf_platform.core.error_views.page_not_found"
handler500 = "rlhf_platform.core.error_views.server_error"
