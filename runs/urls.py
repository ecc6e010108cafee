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
from runs.api.trip_operations import (
    AddedTripCreateApi,
    CancellationCreateApi,
    CancellationReenableApi,
    OperationEndApi,
    OperationListApi,
    RunVehicleChangeApi,
    SkippedStopsCreateApi,
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
    path("runs/<str:run_id>/vehicle/", RunVehicleChangeApi.as_view(), name="run-vehicle"),
    path("trips/cancellations/", CancellationCreateApi.as_view(), name="trip-cancellations"),
    path(
        "trips/cancellations/<str:operation_id>/reenable/",
        CancellationReenableApi.as_view(),
        name="trip-cancellation-reenable",
    ),
    path("trips/added/", AddedTripCreateApi.as_view(), name="trips-added"),
    path("trips/skipped-stops/", SkippedStopsCreateApi.as_view(), name="trips-skipped-stops"),
    path("trip-operations/", OperationListApi.as_view(), name="trip-operations"),
    path(
        "trip-operations/<str:operation_id>/end/",
        OperationEndApi.as_view(),
        name="trip-operation-end",
    ),
    path("vehicles/", VehicleListApi.as_view(), name="vehicles"),
    path("vehicles/<str:vehicle_id>/", VehicleDetailApi.as_view(), name="vehicle-detail"),
]
