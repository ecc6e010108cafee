"""The progression producer with several writers on one run, and at the run's terminal.

Real Redis and PostgreSQL, the observer fed batch by batch as the consumer feeds it (the
straight six-stop line of ``test_progression_observer``). What holds: however a run's
fixes are split between workers and batched, in whatever order the batches arrive, the
matcher state, the stop events and the published values are those of one worker
matching every fix in order; a write from a superseded state is refused and matched
again; and a run that completes at its terminal has recorded its arrival there.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from databus import keys
from realtime_engine.dispatch import dispatch_batch
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.models import StopEvent
from realtime_engine.progression import matcher_store, matcher_write, matching, observer
from realtime_engine.progression.observer import observe_progression
from realtime_engine.segment_history import segment_history_get
from realtime_engine.tests import test_progression_observer as observer_tests
from realtime_engine.tests.test_progression_observer import START, north, position
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.progression.ordering import match_fixes
from runs.domain.progression.state import MatchState
from runs.domain.telemetry.position import Position
from runs.services.actors import SYSTEM
from runs.services.lifecycle import run_event_apply
from runs.services.thresholds import progression_config_get
from runs.tests.fixtures.runs import write_position
from schedule_engine.selectors import trip_geometry_get

TERMINAL_M = 2000.0  # the line's last stop
line_run = observer_tests.line_run  # the fixture: a run In Progress on the line


def batch_of(positions: list[Position]) -> AcceptedBatch:
    """A batch as the consumer hands it: every position, the latest as hot state's."""
    latest = max(positions, key=lambda p: p.timestamp)
    return AcceptedBatch({"LV1": latest}, {}, latest.received_at, len(positions), tuple(positions))


def trip() -> list[Position]:
    """Every 10 s along the line: a minute at 400 m and at 1200 m, 8 m/s between."""
    fixes, metres, at = [], 0.0, 0
    while metres < 1900:
        if metres in (400.0, 1200.0) and at % 60:
            fixes.append(position(metres + at % 3, at, 0.0))
        else:
            metres += 80.0
            fixes.append(position(metres, at, 8.0))
        at += 10
    return fixes


def published(redis_client, run_id: str) -> dict:
    return {
        "state": MatchState.from_redis(
            redis_client.hgetall(keys.run_progression(run_id)), scheduled_start=START
        ),
        "status": redis_client.hgetall(keys.run_vehicle_stop_status(run_id)),
        "updates": redis_client.hgetall(keys.run_stop_time_updates(run_id)),
        "congestion": redis_client.hgetall(keys.run_congestion_level(run_id)),
        "events": sorted(
            StopEvent.objects.filter(run_id=run_id).values_list(
                "stop_sequence", "stop_id", "arrived_at", "departed_at", "source"
            )
        ),
    }


def forget(redis_client, run_id: str) -> None:
    """Back to before the first fix: no matcher state, no published values, no events."""
    redis_client.delete(*matcher_store.progression_keys(run_id))
    StopEvent.objects.filter(run_id=run_id).delete()


def test_two_workers_delivering_out_of_order_publish_what_one_worker_does(redis_client, line_run):
    run_id, fixes = str(line_run.pk), trip()
    observe_progression(batch_of(fixes), redis_client)  # one worker, one backlog batch
    one_worker = published(redis_client, run_id)
    # Met at 80 m: every stop after the first but the terminal, the dwells observed.
    assert [e[0] for e in one_worker["events"]] == [4, 5, 7, 9]
    reference = match_fixes(
        trip_geometry_get(line_run.trip_id),
        MatchState(scheduled_start=START),
        [matching.fix_of(p) for p in fixes],
        progression_config_get(),
    )
    # The matcher's fields; the state also carries the prediction basis, which it does not.
    assert replace(one_worker["state"], prediction=None) == reference.step.state

    forget(redis_client, run_id)
    # Round robin between two workers; worker B runs ahead, A's batches arrive late.
    a, b = fixes[0::2], fixes[1::2]
    late_first = [b[i : i + 4] for i in range(0, len(b), 4)]
    behind = [a[i : i + 3] for i in range(0, len(a), 3)]
    order = []
    while late_first or behind:
        order += late_first[:2]
        late_first = late_first[2:]
        order += behind[:1]
        behind = behind[1:]
    rewinds = matching.REWINDS._value.get()
    for batch in order:
        observe_progression(batch_of(batch), redis_client)
    assert matching.REWINDS._value.get() > rewinds  # late fixes were re-matched
    assert published(redis_client, run_id) == one_worker


def test_a_write_from_a_superseded_state_is_refused_and_matched_again(redis_client, line_run):
    run_id, fixes = str(line_run.pk), trip()
    observe_progression(batch_of(fixes[:10]), redis_client)
    claimed = [("LV1", run_id)]
    config = progression_config_get()
    history = segment_history_get()
    # Two workers read the same state, each with its own next fixes.
    first = matching.runs_to_match(claimed, {"LV1": progression_fixes(fixes[10:14])}, redis_client)
    second = matching.runs_to_match(claimed, {"LV1": progression_fixes(fixes[14:18])}, redis_client)
    won, lost = matcher_write.write_hot_state(
        redis_client, matching.match_runs(first, config), history
    )
    assert (len(won), lost) == (1, [])
    won_again, lost_now = matcher_write.write_hot_state(
        redis_client, matching.match_runs(second, config), history
    )
    assert won_again == [] and len(lost_now) == 1  # its state is no longer the one stored
    stored = redis_client.hgetall(keys.run_progression(run_id))
    assert float(stored["matched_at"]) == fixes[13].timestamp

    observe_progression(batch_of(fixes[14:18]), redis_client)  # the retry path, whole
    state = published(redis_client, run_id)["state"]
    forget(redis_client, run_id)
    observe_progression(batch_of(fixes[:18]), redis_client)
    assert state == published(redis_client, run_id)["state"]
    assert int(redis_client.hget(keys.run_progression(run_id), "revision")) > int(
        stored["revision"]
    )


def progression_fixes(positions: list[Position]):
    return [matching.fix_of(p) for p in positions]


@pytest.mark.parametrize("short_of_terminal_m", [25.0, 5.0])
def test_a_run_completing_at_its_terminal_has_recorded_its_arrival(
    redis_client, line_run, short_of_terminal_m
):
    run_id = str(line_run.pk)
    end = TERMINAL_M - short_of_terminal_m
    approach = [position(1200 + 100 * i, 10 * i, 10.0) for i in range(8)]  # to 1900 m
    approach += [position(end, 80 + 10 * i, 0.0) for i in range(3)]  # standing short of it
    requests = []
    for at in range(len(approach)):
        batch = batch_of([approach[at]])
        observe_progression(batch, redis_client)
        planned = dispatch_batch(batch, redis_client, now=START + at, enqueue=requests.append)
        if any(r.event is RunEvent.RUN_COMPLETED for r in planned):
            break
    assert [r.event for r in requests] == [RunEvent.RUN_COMPLETED]
    terminal = StopEvent.objects.get(run_id=run_id, stop_sequence=10)
    assert terminal.arrived_at.timestamp() == START + 80  # the first fix in its zone
    assert terminal.departed_at is None

    lat, lon = north(end)
    write_position(redis_client, line_run, lat=lat, lon=lon, speed=0.0, age_s=1)
    outcome = run_event_apply(run_id=line_run.pk, event=RunEvent.RUN_COMPLETED, actor=SYSTEM)
    assert outcome.decision.accepted, outcome.decision.reasons
    line_run.refresh_from_db()
    assert line_run.state == RunState.COMPLETED
    assert StopEvent.objects.filter(run=line_run, stop_sequence=10).exists()


def test_stop_events_lost_to_a_database_error_are_written_by_the_next_fix(
    redis_client, line_run, monkeypatch
):
    run_id, fixes = str(line_run.pk), trip()
    observe_progression(batch_of(fixes), redis_client)
    expected = published(redis_client, run_id)["events"]
    forget(redis_client, run_id)

    def unavailable(events):
        list(events)
        raise ConnectionError("PostgreSQL is restarting")

    with monkeypatch.context() as patch:
        patch.setattr(observer, "stop_events_write", unavailable)
        with pytest.raises(ConnectionError):
            observe_progression(batch_of(fixes[:-1]), redis_client)
    assert published(redis_client, run_id)["events"] == []
    assert redis_client.hget(keys.run_progression(run_id), "replay_from")

    observe_progression(batch_of(fixes[-1:]), redis_client)
    assert published(redis_client, run_id)["events"] == expected
    assert not redis_client.hexists(keys.run_progression(run_id), "replay_from")
