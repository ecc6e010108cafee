"""Congestion from observed against scheduled segment speed."""

import pytest

from runs.domain.progression.congestion import congestion_level
from runs.domain.telemetry.congestion_level import CongestionLevelCode as Level


@pytest.mark.parametrize(
    ("observed_s", "scheduled_s", "level"),
    [
        (100, 120, Level.RUNNING_SMOOTHLY),  # faster than scheduled
        (140, 120, Level.RUNNING_SMOOTHLY),  # 86 % of the scheduled speed
        (200, 120, Level.STOP_AND_GO),  # 60 %
        (300, 120, Level.CONGESTION),  # 40 %
        (600, 120, Level.SEVERE_CONGESTION),  # 20 %
        (0, 120, Level.UNKNOWN_CONGESTION_LEVEL),  # no observation
        (60, 5, Level.UNKNOWN_CONGESTION_LEVEL),  # too short a segment to judge
    ],
)
def test_level_follows_the_speed_ratio(observed_s, scheduled_s, level):
    assert congestion_level(observed_s, scheduled_s) is level
