"""The prediction history's bounded sample table against the former full reload, on the real
PostgreSQL: what ``segment_samples_update`` derives, re-derives, trims and expires, and
that a reload in flight never makes the caller wait."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

import psycopg
import pytest
from django.db import connection

from realtime_engine import segment_history
from realtime_engine.models import SegmentTravelSample
from realtime_engine.progression.stop_events import RunStopEvent, stop_events_write
from realtime_engine.segment_samples import (
    COMMIT_LAG_US,
    MAX_SAMPLES,
    REFERENCE_QUERY,
    segment_samples_rebuild,
    segment_samples_update,
)
from runs.domain.progression.stop_events import EventSource, StopCall
from runs.models import Run, Vehicle

DAYS = 28
NOW = time.time()
REVISION = int(NOW * 1_000_000)  # revisions are Redis-clock microseconds
MID_HOUR = NOW % 3600 + 1800  # seconds ago: the middle of the previous UTC hour


@pytest.fixture
def make_run(db):
    vehicle = Vehicle.objects.create(id="SV1", label="Samples")
    made = iter(range(10_000))

    def make() -> Run:
        n = next(made)
        return Run.objects.create(
            vehicle=vehicle, route_id="R", trip_id=f"T{n}", start_date=dt.date(2026, 1, 1)
        )

    yield make
    segment_history.invalidate()


def record(run: Run, calls: list[tuple[int, str, float]], revision: int = REVISION) -> None:
    """Upsert ``run``'s events: (stop_sequence, stop_id, seconds before now) each."""
    stop_events_write(
        RunStopEvent(
            str(run.pk),
            run.trip_id,
            run.start_date,
            StopCall(seq, stop, NOW - ago, NOW - ago, EventSource.OBSERVED),
            revision,
        )
        for seq, stop, ago in calls
    )


def reference(days: int = DAYS) -> dict[tuple[str, str, int], tuple[float, ...]]:
    """The former reload: every stop event of the days, newest MAX_SAMPLES per key."""
    samples: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(REFERENCE_QUERY, [days])
        for from_stop, to_stop, hour, seconds in cursor:
            if len(samples[(from_stop, to_stop, hour)]) < MAX_SAMPLES:
                samples[(from_stop, to_stop, hour)].append(float(seconds))
    return {key: tuple(values) for key, values in samples.items()}


def stored() -> list[tuple]:
    return sorted(SegmentTravelSample.objects.values_list())


def test_the_samples_are_what_the_full_reload_derived(make_run):
    day = 86_400
    # Gaps in the sequences, a time that goes backwards (no sample), stops shared across
    # runs, several hours, an event older than the days (its segment left out).
    record(make_run(), [(1, "A", 2_000), (2, "B", 1_880), (4, "C", 1_700), (5, "D", 1_720)])
    record(make_run(), [(3, "A", 2_000 + day), (4, "B", 1_850 + day), (5, "C", 1_600 + day)])
    record(make_run(), [(1, "A", 9_000), (2, "B", 8_700), (3, "E", 8_100)])
    record(make_run(), [(1, "F", (DAYS + 1) * day), (2, "G", DAYS * day - 600), (3, "H", 60)])

    report = segment_samples_update(days=DAYS)

    assert report.rebuild and report.runs == 4
    expected = reference()
    assert ("C", "D", time.gmtime(NOW - 1_700).tm_hour) not in expected  # backwards in time
    assert [key for key in expected if key[0] == "F"] == []  # its first stop is too old
    assert segment_history.segment_history_load(DAYS) == expected
    assert len(expected) >= 5


def test_running_it_again_adds_nothing(make_run):
    for n in range(3):
        record(make_run(), [(1, "A", 3_000 + n), (2, "B", 2_800 + 2 * n), (3, "C", 2_500)])
    segment_samples_update(days=DAYS)
    before = stored()

    again = segment_samples_update(days=DAYS)

    assert not again.rebuild and again.runs == 3  # within the commit lag: derived again
    assert (again.written, again.removed) == (0, 0)
    assert stored() == before and len(before) == 6


def test_each_segment_hour_keeps_its_newest_samples_within_the_days(make_run):
    day = 86_400
    # 60 runs over the same segment at one hour of 60 days, 8 of them past the 28 days.
    for n in range(60):
        record(make_run(), [(1, "A", n * day + MID_HOUR), (2, "B", n * day + MID_HOUR - 100 - n)])
    segment_samples_update(days=DAYS)
    assert segment_history.segment_history_load(DAYS) == reference()
    [samples] = segment_history.segment_history_load(DAYS).values()
    assert samples == tuple(float(100 + n) for n in range(DAYS))  # newest first, none older
    assert SegmentTravelSample.objects.count() == DAYS

    # More than 50 within the days: a second segment, 55 runs in one hour of today.
    for n in range(55):
        record(make_run(), [(1, "P", MID_HOUR + 10 * n), (2, "Q", MID_HOUR + 9 * n - 5)])
    segment_samples_update(days=DAYS)
    history = segment_history.segment_history_load(DAYS)
    assert history == reference()
    assert SegmentTravelSample.objects.filter(from_stop_id="P").count() == MAX_SAMPLES

    # A shorter history: what is older goes from the table, not only from the load.
    segment_samples_update(days=10)
    assert SegmentTravelSample.objects.filter(from_stop_id="A").count() == 10
    assert segment_history.segment_history_load(10) == reference(10)


def test_events_arriving_over_time_and_rewritten_are_picked_up(make_run):
    # Every event within 200 s of the middle of the previous UTC hour, so that each segment
    # has one hour whenever the suite runs (at 900 and 1,000 s ago, a run in the 100 s
    # after a quarter past found the two A → B samples in two hours).
    ago = MID_HOUR - 800  # added to the "seconds before now" of the A, B and C events
    first, second = make_run(), make_run()
    record(first, [(1, "A", ago + 900), (2, "B", ago + 800)])
    segment_samples_update(days=DAYS)
    assert segment_history.segment_history_load(DAYS) == reference()

    # The run drives on; its second stop is re-upserted by a newer matcher state with
    # another time; another run's event commits with a revision from before the last
    # update's watermark (within the commit lag).
    record(first, [(2, "B", ago + 700), (3, "C", ago + 600)], REVISION + 5)
    record(second, [(1, "A", ago + 1_000), (2, "B", ago + 950)], REVISION - COMMIT_LAG_US // 2)
    report = segment_samples_update(days=DAYS)

    assert report.runs == 2 and report.watermark == REVISION + 5
    history = segment_history.segment_history_load(DAYS)
    assert history == reference()
    hour = time.gmtime(NOW - ago - 900).tm_hour
    assert sorted(history[("A", "B", hour)]) == [50.0, 200.0]
    assert history[("B", "C", time.gmtime(NOW - ago - 700).tm_hour)] == (100.0,)

    # An event out of order removes the sample it made (the times no longer increase).
    record(first, [(3, "C", ago + 750)], REVISION + 6)
    segment_samples_update(days=DAYS)
    bc_hour = time.gmtime(NOW - ago - 700).tm_hour
    assert ("B", "C", bc_hour) not in segment_history.segment_history_load(DAYS)
    assert segment_history.segment_history_load(DAYS) == reference()

    # Past the lag, the watermark has moved on: only a rebuild derives such a late row.
    record(make_run(), [(1, "X", 500), (2, "Y", 400)], REVISION - 2 * COMMIT_LAG_US)
    assert segment_samples_update(days=DAYS).runs == 2  # the two runs within the lag
    assert not SegmentTravelSample.objects.filter(from_stop_id="X").exists()
    assert segment_samples_rebuild(days=DAYS).rebuild
    assert segment_history.segment_history_load(DAYS) == reference()
    assert SegmentTravelSample.objects.filter(from_stop_id="X").exists()


def other_session() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        host=params["HOST"],
        port=params["PORT"] or 5432,
        user=params["USER"],
    )


def test_an_update_while_another_runs_does_nothing(make_run):
    record(make_run(), [(1, "A", 900), (2, "B", 800)])
    with other_session() as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext('realtime_engine.segment_samples'))")
        assert not segment_samples_update(days=DAYS).locked
    assert not SegmentTravelSample.objects.exists()
    assert segment_samples_update(days=DAYS).locked  # the other's transaction ended
    assert SegmentTravelSample.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # committed: the reload thread's session sees it
def test_a_reload_in_flight_serves_the_cached_history(make_run, settings):
    record(make_run(), [(1, "A", 900), (2, "B", 800)])
    segment_samples_update(days=DAYS)
    segment_history.invalidate()
    held = segment_history.segment_history_get()  # the first call loads in the caller
    assert len(held) == 1

    # Another session holds the table: a reload now waits for it.
    locker = other_session()
    try:
        locker.execute("SET lock_timeout = '20s'")
        locker.execute(f"LOCK TABLE {SegmentTravelSample._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        settings.PREDICTION_HISTORY_REFRESH_S = 0  # due on every call
        assert segment_history.segment_history_get() is held
        deadline = time.monotonic() + 30
        while not segment_history.reload_in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert segment_history.reload_in_flight()
        assert segment_history.segment_history_get() is held  # served while it waits
    finally:
        locker.rollback()
        locker.close()
    settings.PREDICTION_HISTORY_REFRESH_S = 300
    deadline = time.monotonic() + 30
    while segment_history.segment_history_get() is held and time.monotonic() < deadline:
        time.sleep(0.01)
    fresh = segment_history.segment_history_get()
    assert fresh is not held and fresh == held  # loaded again, by the thread
    while segment_history.reload_in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
