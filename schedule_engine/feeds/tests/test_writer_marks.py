"""Every hot-state writer marks what it wrote for the next feed build, and the build takes
the marks: the real ingest writer, matcher (through the progression observer) and
lifecycle service, on real Redis and PostgreSQL."""

from __future__ import annotations

from databus import keys
from realtime_engine.progression.observer import observe_progression
from realtime_engine.tests import test_progression_observer as observer_tests
from realtime_engine.tests.test_progression_workers import batch_of, trip
from runs.domain.lifecycle.events import RunEvent
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply
from runs.tests.fixtures.people import make_user
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.test_incremental_builds import report

line_run = observer_tests.line_run  # a run In Progress on vehicle LV1 (its lifecycle applied)


def marks(client) -> tuple[set[str], set[str]]:
    return client.smembers(keys.FEED_DIRTY_VEHICLES), client.smembers(keys.FEED_DIRTY_RUNS)


def test_ingest_matcher_and_lifecycle_mark_and_a_build_takes_the_marks(redis_client, line_run):
    run_id = str(line_run.pk)
    assert marks(redis_client) == ({"LV1"}, {run_id})  # the lifecycle walked it In Progress
    feeds_publish(redis_client)
    assert marks(redis_client) == (set(), set())

    report(redis_client, "bus-2", 1_790_000_000)
    assert marks(redis_client) == ({"bus-2"}, set())
    feeds_publish(redis_client)

    observe_progression(batch_of(trip()[:6]), redis_client)  # the matcher publishes the run
    assert marks(redis_client) == (set(), {run_id})
    # (The build would mark the run again: yesterday's predictions are stale, reported on
    # every build.)
    redis_client.delete(keys.FEED_DIRTY_VEHICLES, keys.FEED_DIRTY_RUNS)

    dispatcher = actor_for_user(make_user("marks-dispatch", "dispatcher"))
    outcome = run_event_apply(run_id=line_run.pk, event=RunEvent.RUN_INTERRUPTED, actor=dispatcher)
    assert outcome.decision.accepted, outcome.decision.message
    assert marks(redis_client) == ({"LV1"}, {run_id})
