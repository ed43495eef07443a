from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rlhf_platform.core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("rlhf_platform.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("rlhf_platform.web_urls")),
]

# Under /api/ Django's own errors (no route, an escaped exception) use the API's error shape.
handler400 = "rlhf_platform.core.error_views.bad_request"
handler403 = "rlhf_platform.core.error_views.permission_denied"
handler404 = "rlhf_platform.core.error_views.page_not_found"
handler500 = "rlhf_platform.core.error_views.server_error"
