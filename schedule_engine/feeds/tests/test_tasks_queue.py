"""The feed builds go to a queue of their own, which a worker without -Q also consumes."""

from __future__ import annotations

from databus.celery import app
from schedule_engine.feeds.tasks import TASK_NAME


def test_the_feed_build_is_routed_to_the_feeds_queue():
    assert app.amqp.router.route({}, TASK_NAME)["queue"].name == "feeds"
    assert app.amqp.router.route({}, "runs.run_event_detected")["queue"].name == "celery"


def test_a_worker_given_no_queues_consumes_the_feeds_queue_too():
    assert {queue.name for queue in app.amqp.queues.values()} == {"celery", "feeds"}
