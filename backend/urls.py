"""Root URL map. Each app owns its own `urls.py`; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from backend.api_docs import ApiDocsView
from backend.health.views import healthz, readyz
from backend.metrics_access import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # django-prometheus's exporter behind METRICS_TOKEN (backend/metrics_access.py).
    path("metrics", metrics, name="prometheus-django-metrics"),
    # The operations status page (backend.ops), before the admin's catch-all.
    path("admin/ops/", include("backend.ops.admin_urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's split view (its start-up script is a file: no inline script, for the CSP),
    # answering OPTIONS too (backend/api_docs.py).
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/alerts/", include("alerts.urls")),
    path("api/ops/", include("backend.ops.urls")),
    path("api/reports/", include("reports.urls")),
    path("reports/", include("reports.page_urls")),
    path("api/", include("runs.urls")),
    path("api/schedule/", include("schedule_engine.urls")),
    path("", include("realtime_engine.urls")),
    path("", include("schedule_engine.feeds.urls")),
]
