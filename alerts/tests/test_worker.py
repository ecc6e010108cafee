"""A real ``celery worker`` publishes the Alerts feed: the build a change queues when it
commits, and beat's periodic build. The worker autodiscovers only the apps
``databus.celery`` lists; ``alerts.apps`` registers the task wherever Django starts, and
this is what shows it does."""

from __future__ import annotations

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from alerts.services import alert_create, alert_end
from alerts.values import AlertInput, InformedEntity, Translation
from databus import keys
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import Actor
from runs.tests.fixtures.feed import write_feed
from schedule_engine.feeds.store import FeedName, feed_get
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def published_ids(redis_client) -> set[str] | None:
    stored = feed_get(redis_client, FeedName.ALERTS)
    if stored is None:
        return None
    message = rt.FeedMessage()
    message.ParseFromString(stored.payload)
    return {entity.id for entity in message.entity}


def test_a_worker_builds_the_feed_a_change_queues_and_beat_rebuilds_it(
    tmp_path, process_env, celery_worker_factory, redis_client
):
    from schedule_engine.services import feed_import

    feed_import(path=write_feed(tmp_path / "gtfs"), name="alerts-worker", activate=True)
    worker = celery_worker_factory({**process_env, "FEED_BUILD_INTERVAL_S": "1"})
    wait_for(lambda: "ready" in worker.log(), 60, "the worker ready")
    dispatcher = Actor(ActorRole.DISPATCHER)

    alert = alert_create(  # committed at once (no transaction around): the build is queued
        actor=dispatcher,
        data=AlertInput(
            header=(Translation("", "Stop S2 closed"),),
            informed_entities=(InformedEntity(stop_id="S2"),),
        ),
    )
    wait_for(lambda: published_ids(redis_client) == {f"alert-{alert.pk}"}, 30, "the alert")
    alert_end(actor=dispatcher, alert_id=alert.pk)
    wait_for(lambda: published_ids(redis_client) == set(), 30, "the alert gone")
    assert "alerts.feed.build" in worker.log()

    beat = celery_worker_factory({**process_env, "FEED_BUILD_INTERVAL_S": "1"}, beat=True)
    wait_for(lambda: "build-gtfs-rt-alerts" in beat.log(), 60, "beat sending the build")
    # Deleted once beat runs, so that only one of its builds (every second) can store it
    # again: a build the change queued may still finish after the first wait above.
    redis_client.delete(keys.feed(FeedName.ALERTS))
    wait_for(lambda: published_ids(redis_client) == set(), 60, "beat's build")
