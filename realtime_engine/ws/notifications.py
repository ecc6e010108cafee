"""The live WebSocket fan-out as the listener of ``databus.notify``.

Installed by ``realtime_engine.apps`` when Django starts: each notification becomes the
live message ``fanout`` sends for it (a run's new state to its run, vehicle and route
topics and to all; a rebuilt feed to all; a service alert to all, alerts and its routes).
"""

from __future__ import annotations

from databus.notify import AlertChanged, FeedPublished, RunStateChanged
from realtime_engine.ws.fanout import publish_alert, publish_feed_status, publish_run_state


class LiveFanout:
    """Implements ``databus.notify.Listener``."""

    def run_state_changed(self, change: RunStateChanged) -> None:
        publish_run_state(
            change.run_id,
            change.state,
            previous_state=change.previous_state,
            event=change.event,
            vehicle_id=change.vehicle_id,
            route_id=change.route_id,
            trip_id=change.trip_id,
        )

    def feed_published(self, feed: FeedPublished) -> None:
        publish_feed_status(feed.feed, feed.header_timestamp, entities=feed.entities)

    def alert_changed(self, change: AlertChanged) -> None:
        publish_alert(change)
