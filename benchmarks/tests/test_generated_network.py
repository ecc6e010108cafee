"""The generated benchmark network: importable, a trip per vehicle under way, fixes on the shape."""

from __future__ import annotations

import time

import pytest

from benchmarks.generated_network import (
    STOP_SPACING_M,
    distance_at,
    network_generate,
    network_import,
    runs_start,
    vehicle_fix,
)
from databus import keys
from runs.domain.lifecycle.states import RunState
from runs.models import Run
from schedule_engine.selectors import trip_geometry_get


def test_trips_are_under_way_and_driven_on_schedule():
    at = 1_790_000_000.0
    network = network_generate(12, at=at, trips_per_route=4)
    assert len({t.trip_id for t in network.trips}) == 12
    assert len({t.route_id for t in network.trips}) == 3
    for trip in network.trips:
        along, _ = distance_at(trip, at)
        assert 0.25 * trip.length_m < along < 0.55 * trip.length_m
        # At each scheduled arrival the vehicle is at that stop, doors open (speed 0).
        for k in (1, trip.stops - 1):
            arrival = trip.start_epoch + trip.arrival_s(k)
            assert distance_at(trip, arrival) == (k * STOP_SPACING_M, 0.0)
        # Every second it moves forward, never faster than the leg speed.
        previous = 0.0
        for t in range(trip.start_epoch, trip.end_epoch + 5, 7):
            along, speed = distance_at(trip, t)
            assert previous <= along <= trip.length_m
            assert along - previous <= 7 * STOP_SPACING_M / trip.leg_s + 1e-6
            assert speed in (0.0, STOP_SPACING_M / trip.leg_s)
            previous = along


@pytest.mark.django_db
def test_imported_network_puts_fixes_on_the_shape_and_runs_in_progress(tmp_path, redis_client):
    now = time.time()
    network = network_generate(4, at=now, trips_per_route=2, stops_per_trip=6)
    network_import(network, tmp_path)
    for trip in network.trips:
        geometry = trip_geometry_get(trip.trip_id)
        assert geometry is not None
        assert geometry.stop_distances_m == pytest.approx(
            [k * STOP_SPACING_M for k in range(trip.stops)], abs=1.0
        )
        for t in range(trip.start_epoch, trip.end_epoch, 30):
            fix = vehicle_fix(trip, t)
            where = geometry.locate(fix.latitude, fix.longitude)
            assert where.offset_m < 0.5
            assert where.distance_m == pytest.approx(distance_at(trip, t)[0], abs=0.5)
            assert fix.bearing == pytest.approx(
                {("GR000", 0): 90.0, ("GR000", 1): 270.0, ("GR001", 0): 0.0, ("GR001", 1): 180.0}[
                    trip.route_id, trip.direction_id
                ]
            )

    run_ids = runs_start(network, processes=1)

    runs = Run.objects.filter(pk__in=run_ids.values())
    assert {(r.vehicle_id, r.trip_id, r.run_lifecycle_state) for r in runs} == {
        (t.vehicle_id, t.trip_id, RunState.IN_PROGRESS.value) for t in network.trips
    }
    for vehicle_id, run_id in run_ids.items():
        assert redis_client.get(keys.vehicle_current_run(vehicle_id)) == run_id
