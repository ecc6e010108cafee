"""The simulator's fixes and the MQTT payloads of the ingress contract (DESIGN.md). Pure.

``position_fix`` is what a simulated vehicle reports at a point of its shape, rounded as
a tracker rounds; ``position_fields`` and ``position_payload`` are a fix as the
``{root}/vehicle/{vid}/position`` message (the replay's too), ``occupancy_payload`` a load
as ``{root}/vehicle/{vid}/occupancy``, as JSON bytes. Invalid payloads (fault injection)
are built in ``faults``.
"""

from __future__ import annotations

import json

from realtime_engine.simulation.motion import ShapePoint
from realtime_engine.simulation.publishing import Fix, Load


def position_fix(point: ShapePoint, *, speed_mps: float, odometer_m: float, timestamp: int) -> Fix:
    return Fix(
        latitude=round(point.latitude, 7),
        longitude=round(point.longitude, 7),
        timestamp=timestamp,
        bearing=round(point.bearing_deg, 1),
        speed_mps=round(speed_mps, 2),
        odometer_m=round(odometer_m),
    )


def position_fields(fix: Fix) -> dict[str, float | int]:
    """The position message's fields; an optional the fix lacks is left out."""
    fields: dict[str, float | int] = {
        "latitude": fix.latitude,
        "longitude": fix.longitude,
        "timestamp": fix.timestamp,
    }
    for name, value in (
        ("bearing", fix.bearing),
        ("speed", fix.speed_mps),
        ("odometer", fix.odometer_m),
    ):
        if value is not None:
            fields[name] = value
    return fields


def position_payload(fix: Fix) -> bytes:
    return json.dumps(position_fields(fix)).encode()


def occupancy_payload(load: Load) -> bytes:
    return json.dumps(
        {
            "occupancy_percentage": load.percentage,
            "occupancy_count": load.count,
            "timestamp": load.timestamp,
        }
    ).encode()
