"""Detectors and their registries, pure: which event each proposes, and when none."""

from __future__ import annotations

import pytest

from runs.domain.detection import detectors as d
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.detection.registry import (
    PERIODIC_DETECTORS,
    TELEMETRY_DETECTORS,
    first_detection,
)
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import (
    MOVING_SPEED_MPS,
    TRACKING_EXPIRY_S,
    TRACKING_GRACE_S,
    Thresholds,
)
from runs.domain.tests.domain_values import (
    NOW,
    STOPS,
    at_terminal,
    position,
    straight_trip_geometry,
)

GEOMETRY = straight_trip_geometry()


def view(state: RunState, **changes) -> DetectionSnapshot:
    return DetectionSnapshot(
        run_id="r1",
        state=state,
        vehicle_id="V1",
        trip_id="T1",
        geometry=GEOMETRY,
        progressed_m=GEOMETRY.stop_distances_m[-1],
        **changes,
    )


def test_thresholds_are_those_of_the_design():
    assert (TRACKING_GRACE_S, TRACKING_EXPIRY_S, MOVING_SPEED_MPS) == (60.0, 600.0, 0.5)


@pytest.mark.parametrize(
    "state, telemetry, expected",
    [
        (RunState.CONFIRMED, position(speed=0.0), RunEvent.RUN_TRACKING_STARTED),
        (RunState.CONFIRMED, position(timestamp=NOW - 120), None),  # an old position: not tracked
        (RunState.TRACKING, position(speed=3.0), RunEvent.RUN_STARTED),
        (RunState.TRACKING, position(speed=0.4), None),
        (RunState.TRACKING, position(speed=None), None),
        (RunState.NO_SIGNAL, position(speed=0.0), RunEvent.RUN_TRACKING_RESTORED),
        (RunState.IN_PROGRESS, at_terminal(), RunEvent.RUN_COMPLETED),
        (RunState.IN_PROGRESS, position(STOPS[2][1], STOPS[2][2]), None),
        (RunState.INITIALIZED, position(), None),
        (RunState.COMPLETED, at_terminal(), None),
    ],
)
def test_telemetry_detectors(state, telemetry, expected):
    request = first_detection(TELEMETRY_DETECTORS, view(state), telemetry, NOW)
    if expected is None:
        assert request is None
    else:
        assert request == RunEventRequest("r1", expected)


@pytest.mark.parametrize(
    "state, silent_for, expected",
    [
        (RunState.IN_PROGRESS, 61, RunEvent.RUN_TRACKING_LOST),
        (RunState.IN_PROGRESS, 30, None),
        (RunState.NO_SIGNAL, 601, RunEvent.RUN_TRACKING_EXPIRED),
        (RunState.NO_SIGNAL, 120, None),
        (RunState.TRACKING, 10_000, None),
    ],
)
def test_periodic_detectors(state, silent_for, expected):
    request = first_detection(
        PERIODIC_DETECTORS, view(state, last_seen=NOW - silent_for), None, NOW
    )
    assert (request.event if request else None) == expected


def test_completion_is_judged_from_the_position_on_the_trip_geometry():
    # 20 m before the terminal, on the shape: within the zone.
    terminal_m = GEOMETRY.stop_distances_m[-1]
    x, y = GEOMETRY.polyline.point_at(terminal_m - 20)
    lat, lon = GEOMETRY.projection.to_latlon(x, y)
    assert d.detect_run_completed(view(RunState.IN_PROGRESS), position(lat, lon), NOW)
    # 100 m before it: not yet; 100 m beside the terminal (off the shape): not either.
    x, y = GEOMETRY.polyline.point_at(terminal_m - 100)
    lat, lon = GEOMETRY.projection.to_latlon(x, y)
    assert d.detect_run_completed(view(RunState.IN_PROGRESS), position(lat, lon), NOW) is None
    x, y = GEOMETRY.polyline.point_at(terminal_m)
    lat, lon = GEOMETRY.projection.to_latlon(x, y + 100)
    assert d.detect_run_completed(view(RunState.IN_PROGRESS), position(lat, lon), NOW) is None
    # Without the trip's geometry nothing is claimed.
    no_geometry = DetectionSnapshot(run_id="r1", state=RunState.IN_PROGRESS)
    assert d.detect_run_completed(no_geometry, at_terminal(), NOW) is None


def test_shortened_thresholds_are_honoured():
    fast = Thresholds(stale_after_s=2.0, expire_after_s=5.0)
    lost = view(RunState.IN_PROGRESS, last_seen=NOW - 3, thresholds=fast)
    assert first_detection(PERIODIC_DETECTORS, lost, None, NOW).event is RunEvent.RUN_TRACKING_LOST
