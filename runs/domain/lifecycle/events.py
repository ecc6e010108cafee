"""Run lifecycle events: commands from people and facts from detectors."""

from __future__ import annotations

from enum import StrEnum


class RunEvent(StrEnum):
    VALIDATE_RUN = "validate_run"
    INITIALIZE_RUN = "initialize_run"
    RUN_REJECTED = "run_rejected"
    RUN_CONFIRMED_BY_OPERATOR = "run_confirmed_by_operator"
    RUN_TRACKING_STARTED = "run_tracking_started"
    CANCEL_RUN = "cancel_run"
    RUN_STARTED = "run_started"
    RUN_TRACKING_LOST = "run_tracking_lost"
    RUN_INTERRUPTED = "run_interrupted"
    RUN_SHORT_TURNED = "run_short_turned"
    RUN_COMPLETED = "run_completed"
    RUN_TRACKING_RESTORED = "run_tracking_restored"
    RUN_TRACKING_EXPIRED = "run_tracking_expired"
    # A dispatcher moves a claiming run to another vehicle (runs.services.trip_operations).
    CHANGE_VEHICLE = "change_vehicle"
