"""The arrival at the trip's last stop is recorded before the run can complete there.

The completion detector fires within its terminal zone (``RUN_TERMINAL_ZONE_M``, 30 m),
wider than the default stop zone (20 m); the producer gives the matcher that zone for
the terminal (``terminal_radius_m``), so the fix that completes a run has its event.
"""

from __future__ import annotations

import dataclasses

import pytest

from runs.domain.progression.config import DEFAULT, WMATA
from runs.domain.progression.stop_events import EventSource
from runs.domain.progression.tests.test_matching import START, STRAIGHT, drive, events_of, fix

TERMINAL_ZONE_M = 30.0
WITH_ZONE = dataclasses.replace(DEFAULT, terminal_radius_m=TERMINAL_ZONE_M)
TERMINAL_M = STRAIGHT.stop_distances_m[-1]


def approach(stop_short_m: float, config=WITH_ZONE):
    """Drive to ``stop_short_m`` before the terminal and stand there."""
    end = TERMINAL_M - stop_short_m
    fixes = [fix(0, 2200, 0), fix(30, 2600, 0), fix(60, end, 0, speed=0.0)]
    fixes += [fix(60 + 20 * i, end + (i % 2), 0, speed=0.0) for i in range(1, 4)]
    return drive(STRAIGHT, fixes, config)


def test_a_bus_standing_25_m_short_of_the_terminal_has_arrived_there():
    steps = approach(25.0)
    terminal = [e for e in events_of(steps) if e.stop_sequence == STRAIGHT.stop_sequences[-1]]
    assert len(terminal) == 1
    assert terminal[0].arrived_at == START + 60  # the first fix in the terminal's zone
    assert terminal[0].departed_at is None
    assert terminal[0].source is EventSource.OBSERVED
    assert steps[-1].state.events_through == len(STRAIGHT.stop_distances_m) - 1


def test_without_the_terminal_zone_that_bus_would_complete_unrecorded():
    steps = approach(25.0, DEFAULT)
    assert STRAIGHT.stop_sequences[-1] not in {e.stop_sequence for e in events_of(steps)}


@pytest.mark.parametrize("short_m", [0.0, 5.0, 19.0, 21.0, 29.0, 30.0])
def test_progress_within_the_completion_zone_always_has_the_terminal_event(short_m):
    for config in (WITH_ZONE, dataclasses.replace(WMATA, terminal_radius_m=TERMINAL_ZONE_M)):
        state = approach(short_m, config)[-1].state
        assert state.max_distance_m >= TERMINAL_M - TERMINAL_ZONE_M  # the detector's condition
        assert state.events_through == len(STRAIGHT.stop_distances_m) - 1


def test_the_terminal_zone_only_widens_the_last_stop():
    assert WITH_ZONE.zone_radius_m(5, 6) == DEFAULT.stopped_radius_m
    assert WITH_ZONE.zone_radius_m(6, 6) == TERMINAL_ZONE_M
    # A convention with a wider stop zone keeps it at the terminal too.
    assert dataclasses.replace(WMATA, terminal_radius_m=30.0).zone_radius_m(6, 6) == 50.0
