"""The notification port (databus.notify): one listener hears every notification; none, nothing."""

from __future__ import annotations

from databus import notify

CHANGE = notify.RunStateChanged(
    run_id="7",
    state="Confirmed",
    previous_state="Initialized",
    event="run_confirmed_by_operator",
    vehicle_id="bus-1",
    route_id="R1",
    trip_id="T1",
)
FEED = notify.FeedPublished(feed="trip_updates", header_timestamp=1_790_000_000, entities=3)


class Recorder:
    def __init__(self) -> None:
        self.heard: list[object] = []

    def run_state_changed(self, change: notify.RunStateChanged) -> None:
        self.heard.append(change)

    def feed_published(self, feed: notify.FeedPublished) -> None:
        self.heard.append(feed)


def test_the_installed_listener_hears_each_notification_once():
    recorder = Recorder()
    previous = notify.install(recorder)
    try:
        notify.run_state_changed(CHANGE)
        notify.feed_published(FEED)
    finally:
        assert notify.install(previous) is recorder
    assert recorder.heard == [CHANGE, FEED]


def test_without_a_listener_a_notification_does_nothing():
    previous = notify.install(None)
    try:
        notify.run_state_changed(CHANGE)
        notify.feed_published(FEED)
    finally:
        notify.install(previous)
