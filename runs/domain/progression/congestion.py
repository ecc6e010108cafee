"""The congestion level of a run's last segment: observed against scheduled speed.

Pure. The progression producer calls ``congestion_level`` when a stop event
completes a segment (time between the two stops' departures, observed and
scheduled) and writes the result to ``run:{rid}:congestion_level``.
"""

from __future__ import annotations

from runs.domain.telemetry.congestion_level import CongestionLevelCode

# (least observed/scheduled speed ratio, level), fastest first: at ≥ 80 % of the
# scheduled speed traffic is not the story; below 30 % it is severe.
SPEED_RATIO_LEVELS: tuple[tuple[float, CongestionLevelCode], ...] = (
    (0.8, CongestionLevelCode.RUNNING_SMOOTHLY),
    (0.5, CongestionLevelCode.STOP_AND_GO),
    (0.3, CongestionLevelCode.CONGESTION),
    (0.0, CongestionLevelCode.SEVERE_CONGESTION),
)
# Segments shorter than this (s) in the schedule say too little (rounding of GTFS times).
MIN_SCHEDULED_S = 20.0


def congestion_level(observed_s: float, scheduled_s: float) -> CongestionLevelCode:
    """The level for a segment driven in ``observed_s`` that the schedule gives ``scheduled_s``.

    Over the same distance the speed ratio is the inverse of the time ratio.
    """
    if observed_s <= 0 or scheduled_s < MIN_SCHEDULED_S:
        return CongestionLevelCode.UNKNOWN_CONGESTION_LEVEL
    ratio = scheduled_s / observed_s
    for least, level in SPEED_RATIO_LEVELS:
        if ratio >= least:
            return level
    return CongestionLevelCode.SEVERE_CONGESTION
