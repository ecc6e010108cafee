"""A ``databus.notify`` listener for tests: it keeps every notification it is given."""

from __future__ import annotations

import pytest

from databus import notify


class NotificationRecorder:
    def __init__(self) -> None:
        self.changes: list[notify.RunStateChanged] = []
        self.feeds: list[notify.FeedPublished] = []

    def run_state_changed(self, change: notify.RunStateChanged) -> None:
        self.changes.append(change)

    def feed_published(self, feed: notify.FeedPublished) -> None:
        self.feeds.append(feed)


@pytest.fixture
def heard():
    """The recorder, installed as the one listener for the test (the previous one after)."""
    recorder = NotificationRecorder()
    previous = notify.install(recorder)
    yield recorder
    notify.install(previous)
