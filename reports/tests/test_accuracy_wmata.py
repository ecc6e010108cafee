"""Acceptance: the accuracy report on the real WMATA trace agrees with a plain recount.

Thirty minutes of the trace go through the offline harness (``benchmarks.progression``:
the pipeline's pure matcher, predictor and builders). Every 60 s the TripUpdates feed
the pipeline would publish then is built, and the prediction log samples its bytes
(``sample_of``, ``sample_store``: the task's own path); the matcher's stop calls over the
whole slice are stored as the stop events. The report's MAE per horizon bucket must
equal, within 1 s, a computation here in plain Python over the rows read back, with the
TransitApp bucket edges written out again rather than imported.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.progression import feed_entities_at, match_run, noisy, runs_of, scheduled_start
from benchmarks.wmata_schedule import read_schedule
from realtime_engine.models import StopEvent
from realtime_engine.replay.trace import read_trace
from reports.filters import ReportFilters
from reports.models import PredictionLog
from reports.prediction_log.sample import sample_of
from reports.prediction_log.storage import sample_store
from reports.selectors.accuracy import prediction_accuracy
from runs.domain.progression.config import WMATA
from runs.models import Run, Vehicle
from schedule_engine.feeds.builders import build_trip_updates

pytestmark = pytest.mark.django_db

SLICE_S = 1800
EVERY_S = 60


class _CachedGeometry:
    """The trace's schedule with each trip's geometry built once (the harness builds it
    at every call, most of its time)."""

    def __init__(self, schedule) -> None:
        self._schedule = schedule
        self.geometry = functools.cache(schedule.geometry)

    def __getattr__(self, name: str):
        return getattr(self._schedule, name)


def _store_stop_events(schedule, runs) -> None:
    for run in runs:
        geometry = schedule.geometry(run.trip_id)
        fixes = [noisy(p, 0.0, random.Random(0)) for p in run.pings]
        matched = match_run(geometry, run, scheduled_start(schedule, run.trip_id), fixes, WMATA)
        calls = {e.stop_sequence: e for m in matched for e in m.step.events}  # upserted
        if not calls:
            continue
        vehicle, _ = Vehicle.objects.get_or_create(id=run.vehicle_id)
        trip = schedule.trips[run.trip_id]
        row = Run.objects.create(
            vehicle=vehicle,
            route_id=trip.route_id,
            trip_id=run.trip_id,
            direction_id=trip.direction_id,
            start_date=run.pings[0].start_date,
            start_time=run.pings[0].start_time,
        )
        StopEvent.objects.bulk_create(
            StopEvent(
                run=row,
                trip_id=run.trip_id,
                service_date=row.start_date,
                stop_sequence=call.stop_sequence,
                stop_id=call.stop_id,
                arrived_at=datetime.fromtimestamp(call.arrived_at, UTC),
                departed_at=None
                if call.departed_at is None
                else datetime.fromtimestamp(call.departed_at, UTC),
                source=call.source.value,
            )
            for call in calls.values()
        )


def _recount_mae_by_bucket() -> dict[str, tuple[int, float]]:
    """Independently: join in Python, bucket by time to actual, mean of |error|."""
    observed: dict[tuple, datetime] = {}
    for trip, day, start, sequence, arrived in StopEvent.objects.values_list(
        "trip_id", "service_date", "run__start_time", "stop_sequence", "arrived_at"
    ):
        key = (trip, day, start, sequence)
        observed[key] = min(arrived, observed.get(key, arrived))
    errors: dict[str, list[float]] = defaultdict(list)
    edges = [(180, "0-3 min"), (360, "3-6 min"), (600, "6-10 min"), (900, "10-15 min")]
    for trip, day, start, sequence, at, predicted in PredictionLog.objects.values_list(
        "trip_id", "start_date", "start_time", "stop_sequence", "predicted_at", "predicted_arrival"
    ):
        arrived = observed.get((trip, day, start, sequence))
        if arrived is None:
            continue
        ahead = (arrived - at).total_seconds()
        label = next((name for upper, name in edges if ahead < upper), "15+ min")
        errors[label].append((predicted - arrived).total_seconds())
    return {label: (len(v), sum(abs(e) for e in v) / len(v)) for label, v in errors.items()}


def test_mae_by_horizon_on_the_wmata_trace_matches_an_independent_count(fixtures_dir: Path):
    wmata = fixtures_dir / "wmata"
    pings = read_trace(wmata / "avl.csv")
    start = min(p.timestamp for p in pings)
    window = [p for p in pings if p.timestamp < start + SLICE_S]
    schedule = _CachedGeometry(
        read_schedule(wmata / "gtfs.zip", {run.trip_id for run in runs_of(window)})
    )
    logged = 0
    for at in range(start + EVERY_S, start + SLICE_S + 1, EVERY_S):
        # The harness matches the pings up to ``at``: what the pipeline had seen then.
        seen = runs_of([p for p in window if p.timestamp <= at])
        _, trips = feed_entities_at(schedule, seen, at=at)
        payload = build_trip_updates(trips, now=at).SerializeToString()
        logged += sample_store(sample_of(payload, max_horizon_s=SLICE_S))
    _store_stop_events(schedule, runs_of(window))
    days = sorted({p.start_date for p in window})

    report = prediction_accuracy(ReportFilters(days[0], days[-1]), timezone=schedule.timezone)

    expected = _recount_mae_by_bucket()
    assert logged > 1000 and report.predictions == logged
    observed = sum(count for count, _ in expected.values())
    assert observed > 300 and report.unobserved == logged - observed
    assert {"0-3 min", "3-6 min", "6-10 min", "10-15 min"} <= set(expected)
    got = {row.bucket: (row.count, row.mae_s) for row in report.by_bucket}
    assert set(got) == set(expected)
    for label, (count, mae) in expected.items():
        assert got[label][0] == count
        assert got[label][1] == pytest.approx(mae, abs=1.0)
