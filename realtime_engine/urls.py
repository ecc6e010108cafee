"""URL routes of the realtime_engine app (mounted at the root): the live map."""

from django.urls import path

from realtime_engine import views

urlpatterns = [
    path("live/", views.live_map, name="live-map"),
    path("live/network.json", views.live_network, name="live-network"),
]
