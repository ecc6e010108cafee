"""Change, then notify: each stored feed is told to databus.notify, with its header and size."""

from __future__ import annotations

import time

from databus import notify
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet

pytest_plugins = ["tests.support.notifications"]  # the `heard` fixture


def test_every_stored_feed_is_notified(db, redis_client, heard):
    now = int(time.time())
    write_fleet(redis_client, now)

    published = feeds_publish(redis_client, now=now)

    assert heard.feeds == [
        notify.FeedPublished(
            feed=name.value,
            header_timestamp=summary.header_timestamp,
            entities=summary.entity_count,
        )
        for name, summary in published.items()
    ]
    assert len(heard.feeds) == 2
    assert heard.changes == []  # a feed build changes no run
