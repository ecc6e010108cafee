"""URL routes of the alerts app (mounted at ``/api/alerts/``)."""

from django.urls import path

from alerts.api import AlertCollectionApi, AlertDetailApi, AlertEndApi

urlpatterns = [
    path("", AlertCollectionApi.as_view(), name="alerts"),
    path("<str:alert_id>/", AlertDetailApi.as_view(), name="alert-detail"),
    path("<str:alert_id>/end/", AlertEndApi.as_view(), name="alert-end"),
]
