"""GTFS-Realtime feed URLs, mounted at the site root by ``backend.urls``."""

from django.urls import path

from schedule_engine.feeds.store import FeedName
from schedule_engine.feeds.views import feed_view

urlpatterns = [
    path(
        "gtfs-rt/vehicle-positions.pb",
        feed_view,
        {"name": FeedName.VEHICLE_POSITIONS},
        name="gtfs-rt-vehicle-positions",
    ),
    path(
        "gtfs-rt/trip-updates.pb",
        feed_view,
        {"name": FeedName.TRIP_UPDATES},
        name="gtfs-rt-trip-updates",
    ),
    # Built from the service alerts in PostgreSQL by the alerts app (alerts.feed).
    path("gtfs-rt/alerts.pb", feed_view, {"name": FeedName.ALERTS}, name="gtfs-rt-alerts"),
]
