"""URL routes of the runs app (mounted at ``/api/``)."""

from django.urls import path

from runs.api.auth import LoginApi, LogoutAllApi, LogoutApi, MeApi
from runs.api.runs import (
    RunCollectionApi,
    RunDetailApi,
    RunEventCreateApi,
    RunHistoryApi,
    RunStateApi,
)
from runs.api.vehicles import VehicleDetailApi, VehicleListApi

urlpatterns = [
    path("login/", LoginApi.as_view(), name="login"),
    path("logout/", LogoutApi.as_view(), name="logout"),
    path("logout-all/", LogoutAllApi.as_view(), name="logout-all"),
    path("me/", MeApi.as_view(), name="me"),
    path("runs/", RunCollectionApi.as_view(), name="runs"),
    path("runs/<str:run_id>/", RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/state/", RunStateApi.as_view(), name="run-state"),
    path("runs/<str:run_id>/events/", RunEventCreateApi.as_view(), name="run-events"),
    path("runs/<str:run_id>/history/", RunHistoryApi.as_view(), name="run-history"),
    path("vehicles/", VehicleListApi.as_view(), name="vehicles"),
    path("vehicles/<str:vehicle_id>/", VehicleDetailApi.as_view(), name="vehicle-detail"),
]
