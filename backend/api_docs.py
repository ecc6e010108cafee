"""The API's docs page, ``/api/docs/`` (Swagger UI over ``/api/schema/``), mounted by backend.urls.

Its own module: drf-spectacular's views import the schema class (backend.api_schema) when
they load, so the two cannot share one.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI over the OpenAPI schema of this API."""

    # The split view serves its start-up script as a file (no inline script, for the CSP).
    # Its only renderer is a template, and the OPTIONS metadata has no template name, so
    # OPTIONS answered 500: it answers that metadata as JSON, like every other DRF view.
    def get_renderers(self):
        request = getattr(self, "request", None)
        if request is not None and request.method == "OPTIONS":
            return [JSONRenderer()]
        return super().get_renderers()
