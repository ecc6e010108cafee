"""The detectors: each one proposes at most one lifecycle event for one run.

A detector is a pure function ``(snapshot, telemetry, now) -> RunEventRequest | None``.
Telemetry detectors get the vehicle's latest position; periodic detectors get
``None`` and judge from the run's last-seen time alone. They propose; the lifecycle
guards (which use the same ``conditions``) decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle import conditions
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import DEFAULT_THRESHOLDS, Thresholds
from runs.domain.telemetry.position import Position


@dataclass(frozen=True, slots=True)
class DetectionSnapshot:
    """What the dispatcher knows of a run from hot state (no database)."""

    run_id: str
    state: RunState
    vehicle_id: str = ""
    trip_id: str = ""
    last_seen: float | None = None  # score in runs:last_seen
    geometry: TripGeometry | None = None
    # Furthest distance along the trip the map-matcher has followed the vehicle to.
    progressed_m: float | None = None
    thresholds: Thresholds = DEFAULT_THRESHOLDS


@dataclass(frozen=True, slots=True)
class RunEventRequest:
    """A detector's proposal: apply ``event`` to ``run_id`` as the system."""

    run_id: str
    event: RunEvent
    details: Mapping[str, object] = field(default_factory=dict)


def detect_tracking_started(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.CONFIRMED or telemetry is None:
        return None
    if not conditions.is_fresh(telemetry.timestamp, now, snapshot.thresholds):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_TRACKING_STARTED)


def detect_run_started(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.TRACKING:
        return None
    if not conditions.is_moving(telemetry, snapshot.thresholds):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_STARTED)


def detect_tracking_restored(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.NO_SIGNAL or telemetry is None:
        return None
    if not conditions.is_fresh(telemetry.timestamp, now, snapshot.thresholds):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_TRACKING_RESTORED)


def detect_run_completed(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.IN_PROGRESS:
        return None
    if not conditions.terminal_reached(
        snapshot.geometry, telemetry, snapshot.thresholds, snapshot.progressed_m
    ):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_COMPLETED)


def detect_tracking_lost(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.IN_PROGRESS:
        return None
    if not conditions.is_stale(snapshot.last_seen, now, snapshot.thresholds):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_TRACKING_LOST)


def detect_tracking_expired(
    snapshot: DetectionSnapshot, telemetry: Position | None, now: float
) -> RunEventRequest | None:
    if snapshot.state is not RunState.NO_SIGNAL:
        return None
    if not conditions.has_expired(snapshot.last_seen, now, snapshot.thresholds):
        return None
    return RunEventRequest(snapshot.run_id, RunEvent.RUN_TRACKING_EXPIRED)
