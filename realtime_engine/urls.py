"""URL routes of the realtime_engine app (mounted at the root): the live map, its ticket API,
and a vehicle's position history (its table is this app's)."""

from django.urls import path

from realtime_engine import views
from realtime_engine.api import WsTicketApi
from realtime_engine.positions_api import VehiclePositionsApi

urlpatterns = [
    path("live/", views.live_map, name="live-map"),
    path("live/network.json", views.live_network, name="live-network"),
    path("api/ws-ticket/", WsTicketApi.as_view(), name="ws-ticket"),
    path(
        "api/vehicles/<str:vehicle_id>/positions/",
        VehiclePositionsApi.as_view(),
        name="vehicle-positions",
    ),
]
