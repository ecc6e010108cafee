"""Change, then notify: each stored feed is told to databus.notify, with its header and size."""

from __future__ import annotations

import time

import pytest

from databus import notify
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet


class Recorder:
    def __init__(self) -> None:
        self.feeds: list[notify.FeedPublished] = []

    def run_state_changed(self, change: notify.RunStateChanged) -> None:
        raise AssertionError("a feed build changes no run")

    def feed_published(self, feed: notify.FeedPublished) -> None:
        self.feeds.append(feed)


@pytest.fixture
def heard():
    recorder = Recorder()
    previous = notify.install(recorder)
    yield recorder
    notify.install(previous)


def test_every_stored_feed_is_notified(db, redis_client, heard):
    now = int(time.time())
    write_fleet(redis_client, now)

    published = feeds_publish(redis_client, now=now)

    assert heard.feeds == [
        notify.FeedPublished(
            feed=name.value, header_timestamp=summary.header_timestamp,
            entities=summary.entity_count,
        )
        for name, summary in published.items()
    ]
    assert len(heard.feeds) == 2

