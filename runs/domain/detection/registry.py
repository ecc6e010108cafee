"""The ordered detector registries and the pure planner that runs them.

Order matters: the first detector that fires wins, so at most one event is proposed
per run per look (each detector also checks the run's state, so in practice only one
can fire).
"""

from __future__ import annotations

from collections.abc import Callable

from runs.domain.detection import detectors as d
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.telemetry.position import Position

Detector = Callable[[DetectionSnapshot, Position | None, float], RunEventRequest | None]

# Run on every accepted position of a vehicle that has a run.
TELEMETRY_DETECTORS: tuple[Detector, ...] = (
    d.detect_tracking_started,
    d.detect_run_started,
    d.detect_tracking_restored,
    d.detect_run_completed,
)

# Run by the periodic scan over runs whose telemetry stopped.
PERIODIC_DETECTORS: tuple[Detector, ...] = (
    d.detect_tracking_lost,
    d.detect_tracking_expired,
)


def first_detection(
    detectors: tuple[Detector, ...],
    snapshot: DetectionSnapshot,
    telemetry: Position | None,
    now: float,
) -> RunEventRequest | None:
    for detector in detectors:
        request = detector(snapshot, telemetry, now)
        if request is not None:
            return request
    return None
