"""Ingress limits, as data in one place (DESIGN.md "Ingress contract").

Read by the telemetry contracts and the consumer's topic routing.
"""

from __future__ import annotations

import re

# A payload larger than this is refused before it is parsed.
MAX_PAYLOAD_BYTES = 4096

# One topic segment names one vehicle (and, with per-vehicle broker credentials, one broker
# user). At least one letter or digit: ".", ".." and "-" are path and option look-alikes
# that no agency names a bus, and "..", as a topic or file name segment, is a traversal.
VEHICLE_ID_PATTERN = re.compile(r"(?=[^A-Za-z0-9]*[A-Za-z0-9])[A-Za-z0-9._-]{1,64}")
VEHICLE_ID_RULE = "1 to 64 of A-Z a-z 0-9 . _ - with at least one letter or digit"

# Clocks on vehicles drift; more than this ahead of the server's clock is a broken clock.
MAX_FUTURE_SKEW_S = 60

# POSIX seconds below this (2000-01-01) are seconds-since-boot or garbage, not wall time.
MIN_POSIX_SECONDS = 946_684_800
# Above this (year 5138) a "seconds" value is really milliseconds.
MILLISECONDS_THRESHOLD = 100_000_000_000

# Numeric bounds: (lowest, highest) accepted, both inclusive. Each is physically plausible
# and fits the GTFS-RT protobuf type the value is published as; a value outside is refused
# at ingest (dead-lettered with a reason) and dropped when read back from hot state, so
# no builder is ever handed one. docs/architecture.md "Telemetry bounds" says why each.
LATITUDE_RANGE = (-90.0, 90.0)  # WGS84 degrees (proto float)
LONGITUDE_RANGE = (-180.0, 180.0)
BEARING_RANGE = (0.0, 360.0)  # degrees clockwise from true north (proto float)
# m/s (proto float). 150 m/s = 540 km/h: above the fastest passenger vehicle in service
# (Shanghai maglev, 431 km/h = 120 m/s); 1e308 would be published as Infinity in float32.
SPEED_RANGE = (0.0, 150.0)
# m (proto double). 1e10 m = 10 million km: several lifetimes of a bus (~1-2 million km)
# or of a rail car; above that the number is a counter fault, not distance.
ODOMETER_RANGE = (0.0, 1e10)
# % of the vehicle's rated capacity (proto uint32). Crush loads exceed 100 (GTFS-RT says so
# explicitly); 300 is above the worst recorded rush-hour loads (Tokyo, ~250 %).
OCCUPANCY_PERCENTAGE_RANGE = (0, 300)
# Passengers on board (API and WebSocket; proto int32 where GTFS-RT carries counts).
# 10,000 is several times a crush-loaded 16-car train.
OCCUPANCY_COUNT_RANGE = (0, 10_000)
# GTFS stop_sequence (proto uint32): GTFS sets no maximum; 2^31-1 is what the stop-event
# table's integer column and every int32 consumer can hold.
STOP_SEQUENCE_RANGE = (0, 2**31 - 1)
# Seconds of prediction uncertainty (proto int32): more than a day says nothing.
UNCERTAINTY_RANGE_S = (0, 86_400)
# A stop time more than this before or after the updates' own timestamp is not a time of
# this trip (GTFS service-day times stay below 48:00:00).
STOP_TIME_MAX_OFFSET_S = 2 * 86_400


def is_valid_vehicle_id(text: str) -> bool:
    return VEHICLE_ID_PATTERN.fullmatch(text) is not None
