"""The detection thresholds in force: the domain defaults, overridden by settings."""

from __future__ import annotations

from django.conf import settings

from runs.domain.detection import thresholds as defaults
from runs.domain.detection.thresholds import Thresholds


def thresholds_get() -> Thresholds:
    return Thresholds(
        stale_after_s=getattr(settings, "RUN_STALE_AFTER_S", defaults.TRACKING_GRACE_S),
        expire_after_s=getattr(settings, "RUN_EXPIRE_AFTER_S", defaults.TRACKING_EXPIRY_S),
        moving_speed_mps=defaults.MOVING_SPEED_MPS,
        terminal_zone_m=getattr(settings, "RUN_TERMINAL_ZONE_M", defaults.TERMINAL_ZONE_M),
    )
