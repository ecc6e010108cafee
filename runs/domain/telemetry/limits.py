"""Ingress limits, as data in one place (DESIGN.md "Ingress contract").

Read by the telemetry contracts and the consumer's topic routing.
"""

from __future__ import annotations

import re

# A payload larger than this is refused before it is parsed.
MAX_PAYLOAD_BYTES = 4096

# One topic segment names one vehicle.
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Clocks on vehicles drift; more than this ahead of the server's clock is a broken clock.
MAX_FUTURE_SKEW_S = 60

# POSIX seconds below this (2000-01-01) are seconds-since-boot or garbage, not wall time.
MIN_POSIX_SECONDS = 946_684_800
# Above this (year 5138) a "seconds" value is really milliseconds.
MILLISECONDS_THRESHOLD = 100_000_000_000

LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)
BEARING_RANGE = (0.0, 360.0)


def is_valid_vehicle_id(text: str) -> bool:
    return VEHICLE_ID_PATTERN.fullmatch(text) is not None
