"""Every number the detectors and the telemetry guards compare against, in one place.

``Thresholds()`` holds the defaults of DESIGN.md, the only spelling of each:
``backend.settings`` reads the overrides (``RUN_STALE_AFTER_S``…) with these as their
defaults, and ``runs.services.thresholds`` builds the value in force from the settings,
so that deployments and end-to-end tests can shorten them.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACKING_GRACE_S = 60.0  # telemetry older than this is stale: the run has lost its signal
TRACKING_EXPIRY_S = 600.0  # a run without signal for this long is given up
MOVING_SPEED_MPS = 0.5  # faster than this the vehicle is moving: the run has started
TERMINAL_ZONE_M = 30.0  # within this of the terminal stop (along and across the shape)


@dataclass(frozen=True, slots=True)
class Thresholds:
    stale_after_s: float = TRACKING_GRACE_S
    expire_after_s: float = TRACKING_EXPIRY_S
    moving_speed_mps: float = MOVING_SPEED_MPS
    terminal_zone_m: float = TERMINAL_ZONE_M


DEFAULT_THRESHOLDS = Thresholds()
