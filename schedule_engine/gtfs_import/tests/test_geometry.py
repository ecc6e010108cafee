"""Metres along shapes and interpolated stop times, on plain values (no database)."""

import pytest

from schedule_engine.gtfs_import.geometry import PatternDistances, filled_times, shape_measured
from schedule_engine.gtfs_import.parse import ParsedStopTime

# Points along one meridian: 0.001° of latitude is about 111 m.
SHAPE = [(9.930, -84.09), (9.931, -84.09), (9.933, -84.09)]


def stop_time(arrival: int | None) -> ParsedStopTime:
    return ParsedStopTime(1, 2, "S", arrival, arrival, "", 0, 0, None, None)


def test_a_shape_is_measured_in_cumulative_metres():
    cumulative, geometry = shape_measured(SHAPE)
    assert cumulative[0] == 0.0
    assert cumulative[1] == pytest.approx(111.2, abs=1.0)
    assert cumulative[2] == pytest.approx(3 * cumulative[1], rel=0.01)
    assert geometry.polyline is not None


def test_a_shape_without_two_distinct_points_has_no_polyline():
    cumulative, geometry = shape_measured([SHAPE[0], SHAPE[0]])
    assert cumulative == [0.0, 0.0]
    assert geometry.polyline is None


def test_stops_are_placed_along_the_shape_once_per_pattern():
    cumulative, geometry = shape_measured(SHAPE)
    coords = {"A": SHAPE[0], "B": SHAPE[1], "C": SHAPE[2], "X": None}
    distances = PatternDistances({"SH": geometry}, coords)
    along = distances.along("SH", ("A", "B", "C"))
    assert along == pytest.approx(cumulative, abs=0.01)  # stops on the shape's points
    assert distances.along("SH", ("A", "B", "C")) is along  # computed once
    assert distances.along("SH", ("A", "X")) is None  # a stop without coordinates


def test_missing_times_are_interpolated_by_distance_else_by_index():
    stop_times = [stop_time(0), stop_time(None), stop_time(None), stop_time(300)]
    arrivals, departures, exact = filled_times(stop_times, [0.0, 100.0, 200.0, 1000.0])
    assert arrivals == departures == [0, 30, 60, 300]
    assert exact == [True, False, False, True]
    assert filled_times(stop_times, None)[0] == [0, 100, 200, 300]
