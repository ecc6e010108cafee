"""Completion on a loop trip: the two ends are one place, only matched progress tells them apart."""

from runs.domain.detection.detectors import DetectionSnapshot, detect_run_completed
from runs.domain.geometry import LocalProjection, Polyline, TripGeometry
from runs.domain.lifecycle.conditions import terminal_reached
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import DEFAULT_THRESHOLDS
from runs.domain.telemetry.position import Position

PROJECTION = LocalProjection(45.0, 7.0)
# A 2 km square loop whose first and last stops are the same corner.
LOOP = TripGeometry(
    trip_id="loop",
    shape_id="loop-shape",
    projection=PROJECTION,
    polyline=Polyline.from_xy([(0, 0), (500, 0), (500, 500), (0, 500), (0, 0)]),
    stop_sequences=(1, 2, 3, 4),
    stop_ids=("A", "B", "C", "A"),
    stop_distances_m=(0.0, 750.0, 1250.0, 2000.0),
)


def fix_at(x: float, y: float) -> Position:
    lat, lon = PROJECTION.to_latlon(x, y)
    return Position("V1", lat, lon, 1_780_000_000, 1_780_000_000, 0.0, 0.0)


def test_a_bus_waiting_at_the_first_stop_of_a_loop_has_not_completed_it():
    at_start = fix_at(3, 0)
    assert not terminal_reached(LOOP, at_start, DEFAULT_THRESHOLDS, progressed_m=0.0)
    assert not terminal_reached(LOOP, at_start, DEFAULT_THRESHOLDS, progressed_m=None)


def test_the_same_place_after_driving_the_loop_is_the_terminal():
    back_at_start = fix_at(0, 3)
    assert terminal_reached(LOOP, back_at_start, DEFAULT_THRESHOLDS, progressed_m=1995.0)


def test_progress_alone_does_not_complete_a_run_whose_vehicle_is_elsewhere():
    far_away = fix_at(500, 250)
    assert not terminal_reached(LOOP, far_away, DEFAULT_THRESHOLDS, progressed_m=1995.0)


def test_the_completion_detector_uses_the_matched_progress():
    snapshot = DetectionSnapshot(
        run_id="r1", state=RunState.IN_PROGRESS, geometry=LOOP, progressed_m=10.0
    )
    assert detect_run_completed(snapshot, fix_at(3, 0), now=1_780_000_000) is None
    done = DetectionSnapshot(
        run_id="r1", state=RunState.IN_PROGRESS, geometry=LOOP, progressed_m=1990.0
    )
    completed = detect_run_completed(done, fix_at(0, 3), now=1_780_000_000)
    assert completed is not None and completed.event.value == "run_completed"
