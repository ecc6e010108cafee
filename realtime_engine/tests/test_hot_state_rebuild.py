"""The hot-state rebuild against real PostgreSQL and Redis: what a flush lost comes back.

Runs are brought to their states through the real lifecycle service; Redis is then
flushed and rebuilt, and what the rebuild wrote is compared with what the transitions
wrote. Positions are not rebuilt (the next message brings them) and a run's
runs:last_seen score restarts at the rebuild: those keys are compared apart.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from databus import keys
from realtime_engine import hot_state_rebuild as rebuild
from realtime_engine.hot_state_rebuild import hot_state_epoch, hot_state_rebuild
from realtime_engine.models import StopEvent as StopEventRow
from realtime_engine.scans import plan_scan, stale_runs_read
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.progression.state import MatchState
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.models import Run, RunLifecycleTransition, Vehicle
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply
from runs.services.thresholds import thresholds_get
from runs.tests.fixtures.runs import new_run, walk_to
from runs.tests.test_lifecycle_service import redis_contents
from schedule_engine.selectors import trip_geometry_get

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

# Written by ingest, not by lifecycle actions: the rebuild does not bring these back as they were.
NOT_REBUILT = ("vehicle:*:position",)


def comparable(client) -> dict[str, object]:
    """Hot state minus positions, with sorted sets reduced to their members."""
    contents = redis_contents(client)
    for pattern in NOT_REBUILT:
        for key in client.keys(pattern):
            contents.pop(key, None)
    for key in (keys.RUNS_LAST_SEEN, keys.RUNS_CANCELED):
        if key in contents:
            contents[key] = sorted(member for member, _ in contents[key])
    contents.pop(keys.HOT_STATE_EPOCH, None)
    return contents


def flush_and_rebuild(client) -> rebuild.RebuildReport:
    client.flushdb()
    report = hot_state_rebuild(client)
    assert report.rebuilt and report.epoch is not None
    return report


@pytest.mark.parametrize("state", list(RunState))
def test_a_flushed_run_comes_back_as_its_transitions_left_it(run_in_state, redis_client, state):
    run = run_in_state(state)
    before = comparable(redis_client)
    transitions = RunLifecycleTransition.objects.count()

    flush_and_rebuild(redis_client)

    after = comparable(redis_client)
    if state in (RunState.COMPLETED, RunState.INTERRUPTED, RunState.SHORT_TURNED):
        # A finished run's projection only lingered for the state API; nothing is rebuilt.
        assert not any(str(run.pk) in key for key in after)
    else:
        if state is RunState.CANCELLED:
            # Its vehicle's metadata comes back with the vehicle's next live run.
            before.pop(keys.vehicle_metadata(run.vehicle_id))
        assert after == before
    run.refresh_from_db()
    assert run.run_lifecycle_state == state.value
    assert RunLifecycleTransition.objects.count() == transitions  # no event applied


def test_a_run_rejected_before_initialization_is_not_published_as_cancelled(
    gtfs_feed, vehicle, redis_client, dispatcher
):
    run = walk_to(redis_client, new_run(vehicle), RunState.VALIDATED, actor_for_user(dispatcher))
    outcome = run_event_apply(
        run_id=run.pk, event=RunEvent.RUN_REJECTED, actor=actor_for_user(dispatcher)
    )
    assert outcome.decision.accepted
    flush_and_rebuild(redis_client)
    assert redis_client.zscore(keys.RUNS_CANCELED, str(run.pk)) is None
    assert not redis_client.exists(keys.run(str(run.pk)))


def record_stop_events(run: Run, *times: tuple[float, float | None]) -> None:
    geometry = trip_geometry_get(run.trip_id)
    for index, (arrived, departed) in enumerate(times):
        StopEventRow.objects.create(
            run=run,
            trip_id=run.trip_id,
            service_date=run.start_date,
            stop_sequence=geometry.stop_sequences[index],
            stop_id=geometry.stop_ids[index],
            arrived_at=dt.datetime.fromtimestamp(arrived, dt.UTC),
            departed_at=None if departed is None else dt.datetime.fromtimestamp(departed, dt.UTC),
            source="observed",
        )


def test_the_matcher_resumes_after_the_last_stop_event_and_keeps_its_observed_times(
    run_in_state, redis_client
):
    run = run_in_state(RunState.IN_PROGRESS)
    rid = str(run.pk)
    t = 1_790_000_000.0
    record_stop_events(run, (t, t + 20), (t + 80, t + 95))
    report = flush_and_rebuild(redis_client)
    assert report.matcher_states == 1

    geometry = trip_geometry_get(run.trip_id)
    stored = redis_client.hgetall(keys.run_progression(rid))
    state = MatchState.from_redis(stored, scheduled_start=0.0)
    assert (state.events_through, state.matched_at) == (1, t + 95)
    assert state.max_distance_m == geometry.stop_distances_m[1]
    observed = updates_contract.from_redis(redis_client.hgetall(keys.run_stop_time_updates(rid)))
    assert [(u.stop_sequence, u.arrival, u.departure, u.observed) for u in observed.updates] == [
        (geometry.stop_sequences[0], t, t + 20, True),
        (geometry.stop_sequences[1], t + 80, t + 95, True),
    ]
    assert 0 < redis_client.ttl(keys.run_progression(rid)) <= 24 * 3600


def test_rebuilding_again_changes_nothing_and_never_overwrites_what_ingest_wrote(
    run_in_state, redis_client
):
    run = run_in_state(RunState.IN_PROGRESS)
    rid = str(run.pk)
    record_stop_events(run, (1_790_000_000.0, 1_790_000_020.0))
    flush_and_rebuild(redis_client)
    # Ingest matched a newer fix and saw the vehicle since.
    redis_client.hset(keys.run_progression(rid), "matched_at", "1790000500.0")
    redis_client.hset(keys.run_stop_time_updates(rid), "timestamp", "1790000500")
    redis_client.zadd(keys.RUNS_LAST_SEEN, {rid: 1_790_000_500})
    before = redis_contents(redis_client)

    report = hot_state_rebuild(redis_client)

    assert report.rebuilt
    after = redis_contents(redis_client)
    assert after.pop(keys.HOT_STATE_EPOCH) != before.pop(keys.HOT_STATE_EPOCH)
    assert after == before


def test_a_rebuild_in_progress_elsewhere_is_not_repeated(run_in_state, redis_client):
    run_in_state(RunState.IN_PROGRESS)
    redis_client.flushdb()
    redis_client.set(keys.HOT_STATE_REBUILD_LOCK, "another-worker", ex=60)
    report = hot_state_rebuild(redis_client)
    assert not report.rebuilt
    assert redis_client.keys("run:*") == []
    assert hot_state_epoch(redis_client) is None


def test_a_redis_emptied_during_the_rebuild_leaves_the_marker_unset(
    run_in_state, redis_client, monkeypatch
):
    run_in_state(RunState.IN_PROGRESS)
    write = rebuild._write

    def write_then_lose_everything(client, plans, *, now):
        write(client, plans, now=now)
        client.flushdb()  # a second restart while the rebuild was writing

    monkeypatch.setattr(rebuild, "_write", write_then_lose_everything)
    report = hot_state_rebuild(redis_client)
    assert report.rebuilt and report.epoch is None
    assert hot_state_epoch(redis_client) is None  # the next check rebuilds again


@pytest.mark.django_db(transaction=True)
def test_a_transition_waits_for_the_rebuild_and_then_wins(
    gtfs_feed, vehicle, operator, redis_client, dispatcher, monkeypatch
):
    actor = actor_for_user(dispatcher)
    run = walk_to(redis_client, new_run(vehicle, operator), RunState.TRACKING, actor)
    redis_client.flushdb()
    written, release = threading.Event(), threading.Event()
    write = rebuild._write

    def write_and_hold(client, plans, *, now):
        write(client, plans, now=now)
        written.set()
        release.wait(10)  # the rebuild still holds the run rows

    monkeypatch.setattr(rebuild, "_write", write_and_hold)
    result: dict[str, object] = {}

    def cancel():
        try:
            result["outcome"] = run_event_apply(
                run_id=run.pk, event=RunEvent.CANCEL_RUN, actor=actor
            )
        finally:
            connections.close_all()

    rebuilder = threading.Thread(target=lambda: (hot_state_rebuild(), connections.close_all()))
    rebuilder.start()
    assert written.wait(10)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    canceller.join(0.5)
    assert canceller.is_alive()  # blocked on the run's row lock
    release.set()
    rebuilder.join(10)
    canceller.join(10)

    assert result["outcome"].decision.accepted
    rid = str(run.pk)
    assert not redis_client.sismember(keys.RUNS_TRACKING, rid)
    assert redis_client.get(keys.vehicle_current_run(run.vehicle_id)) is None
    assert redis_client.zscore(keys.RUNS_CANCELED, rid) is not None
    assert Run.objects.get(pk=run.pk).run_lifecycle_state == RunState.CANCELLED.value


def test_every_live_run_of_a_fleet_is_rebuilt_in_a_few_queries(
    gtfs_feed, company, redis_client, dispatcher, django_assert_max_num_queries
):
    actor = actor_for_user(dispatcher)
    # T1 cancelled, then T1 in progress and T2 tracking (one claim per trip at a time).
    plan = [("C1", "T1", RunState.CANCELLED), ("P1", "T1", RunState.IN_PROGRESS)]
    plan.append(("K1", "T2", RunState.NO_SIGNAL))
    runs = {}
    for vehicle_id, trip_id, state in plan:
        vehicle = Vehicle.objects.create(id=vehicle_id, label=vehicle_id, company=company)
        runs[state] = walk_to(redis_client, new_run(vehicle, trip_id=trip_id), state, actor)
    for state in (RunState.IN_PROGRESS, RunState.NO_SIGNAL):
        record_stop_events(runs[state], (1_790_000_000.0, 1_790_000_020.0))
    before = comparable(redis_client)

    redis_client.flushdb()
    with django_assert_max_num_queries(8):
        report = hot_state_rebuild(redis_client)

    assert dict(report.runs_by_state) == {s.value: 1 for s in runs}
    assert report.matcher_states == 2
    after = comparable(redis_client)
    for key in [k for k in after if k.endswith((":progression", ":stop_time_updates"))]:
        after.pop(key)
    before.pop(keys.vehicle_metadata("C1"))  # comes back with the vehicle's next live run
    assert after == before


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (RunState.IN_PROGRESS, RunEvent.RUN_TRACKING_LOST, "stale_after_s"),
        (RunState.NO_SIGNAL, RunEvent.RUN_TRACKING_EXPIRED, "expire_after_s"),
    ],
)
def test_a_rebuilt_run_is_judged_silent_only_a_full_threshold_after_the_rebuild(
    run_in_state, redis_client, state, event, after
):
    # The flush silenced ingest's last-seen scores, not the vehicles: the stale scan must
    # not mistake the gap for silence, and must still catch a vehicle that stays silent.
    run_in_state(state)
    redis_client.flushdb()
    rebuilt_at = 1_790_000_000.0
    hot_state_rebuild(redis_client, now=rebuilt_at)
    thresholds = thresholds_get()

    def proposed(at: float) -> list[RunEvent]:
        return [
            r.event
            for r in plan_scan(stale_runs_read(redis_client, now=at, thresholds=thresholds), at)
        ]

    assert proposed(rebuilt_at + 1) == []
    assert proposed(rebuilt_at + getattr(thresholds, after) + 1) == [event]


def migrate_to(app: str, name: str | None) -> None:
    """Migrate ``app`` to migration ``name`` (its newest with None), data and all."""
    executor = MigrationExecutor(connections["default"])
    target = name or executor.loader.graph.leaf_nodes(app)[0][1]
    executor.migrate([(app, target)])


# Schema changes after rows were written in the same transaction hit PostgreSQL's pending
# foreign-key triggers: this one commits, as a deploy's migrate does.
@pytest.mark.django_db(transaction=True)
def test_stop_events_recorded_before_the_revision_column_survive_it_and_resume_the_matcher(
    run_in_state, redis_client
):
    run = run_in_state(RunState.IN_PROGRESS)
    t = 1_790_000_000.0
    record_stop_events(run, (t, t + 20), (t + 80, t + 95))
    migrate_to("realtime_engine", "0002_stop_event")  # the schema before the revision column
    migrate_to("realtime_engine", None)

    assert list(StopEventRow.objects.filter(run=run).values_list("revision", flat=True)) == [0, 0]
    flush_and_rebuild(redis_client)
    stored = redis_client.hgetall(keys.run_progression(str(run.pk)))
    state = MatchState.from_redis(stored, scheduled_start=0.0)
    assert (state.events_through, state.matched_at) == (1, t + 95)
