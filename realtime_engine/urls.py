"""URL routes of the realtime_engine app (mounted at the root): the live map and its ticket API."""

from django.urls import path

from realtime_engine import views
from realtime_engine.api import WsTicketApi

urlpatterns = [
    path("live/", views.live_map, name="live-map"),
    path("live/network.json", views.live_network, name="live-network"),
    path("api/ws-ticket/", WsTicketApi.as_view(), name="ws-ticket"),
]
