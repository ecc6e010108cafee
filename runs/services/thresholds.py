"""The thresholds in force: the domain's config values, with the settings' overrides.

The defaults live in the domain dataclasses (``runs.domain.lifecycle.thresholds``,
``runs.domain.progression.config``); ``backend.settings`` reads each override from the
environment with that dataclass default. This module is the one place that turns the
settings into the config objects the detectors and the map-matcher take.
"""

from __future__ import annotations

from django.conf import settings

from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.progression.config import ProgressionConfig


def thresholds_get() -> Thresholds:
    """The detection thresholds of this deployment (settings ``RUN_*``)."""
    return Thresholds(
        stale_after_s=settings.RUN_STALE_AFTER_S,
        expire_after_s=settings.RUN_EXPIRE_AFTER_S,
        terminal_zone_m=settings.RUN_TERMINAL_ZONE_M,
    )


def progression_config_get() -> ProgressionConfig:
    """The stop-zone convention of this deployment (settings ``PROGRESSION_*``).

    The terminal's zone is at least the completion detector's (``RUN_TERMINAL_ZONE_M``):
    the fix that completes a run has recorded its arrival at the last stop.
    """
    max_speed = settings.PROGRESSION_STOPPED_MAX_SPEED_MPS
    return ProgressionConfig(
        stopped_radius_m=settings.PROGRESSION_STOPPED_RADIUS_M,
        incoming_radius_m=settings.PROGRESSION_INCOMING_RADIUS_M,
        stopped_max_speed_mps=None if max_speed < 0 else max_speed,
        max_speed_mps=settings.PROGRESSION_MAX_SPEED_MPS,
        terminal_radius_m=settings.RUN_TERMINAL_ZONE_M,
    )
