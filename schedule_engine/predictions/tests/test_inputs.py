"""The schedule deviation of a matched position (``schedule_engine.predictions.inputs``)."""

from __future__ import annotations

import pytest

from schedule_engine.predictions.inputs import schedule_deviation_s, scheduled_time_at
from schedule_engine.predictions.predictor import RunScheduledStop

# Three stops 500 m apart; 120 s driving between them, 30 s dwell at the middle one.
STOPS = (
    RunScheduledStop(2, "A", 1_000.0, 1_000.0),
    RunScheduledStop(4, "B", 1_120.0, 1_150.0),
    RunScheduledStop(5, "C", 1_270.0, 1_270.0),
)
DISTANCES = (0.0, 500.0, 1_000.0)


def test_between_stops_the_schedule_is_interpolated_from_departure_to_arrival():
    assert scheduled_time_at(STOPS, DISTANCES, 250.0) == 1_060.0
    assert scheduled_time_at(STOPS, DISTANCES, 750.0) == 1_210.0


def test_a_late_bus_between_stops_is_behind_by_the_difference():
    deviation = schedule_deviation_s(STOPS, DISTANCES, distance_m=250.0, at=1_100.0, departed=True)
    assert deviation == 40.0


def test_an_early_bus_has_a_negative_deviation():
    deviation = schedule_deviation_s(STOPS, DISTANCES, distance_m=750.0, at=1_180.0, departed=True)
    assert deviation == -30.0


def test_past_the_terminal_the_terminal_arrival_counts():
    assert scheduled_time_at(STOPS, DISTANCES, 1_050.0) == 1_270.0


@pytest.mark.parametrize(("at", "expected"), [(900.0, 0.0), (1_045.0, 45.0)])
def test_before_departure_a_bus_is_only_ever_late(at, expected):
    deviation = schedule_deviation_s(STOPS, DISTANCES, distance_m=0.0, at=at, departed=False)
    assert deviation == expected
