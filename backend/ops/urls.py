"""The operations API, mounted at ``/api/ops/`` (backend/urls.py)."""

from django.urls import path

from backend.ops.api import OpsStatusView

urlpatterns = [path("status", OpsStatusView.as_view(), name="ops-status")]
