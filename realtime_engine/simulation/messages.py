"""The MQTT payloads the simulator sends (DESIGN.md ingress contract). Pure.

``position_payload`` for ``{root}/vehicle/{vid}/position`` and ``occupancy_payload``
for ``{root}/vehicle/{vid}/occupancy``, as JSON bytes. Invalid payloads (fault
injection) are built in ``faults``.
"""

from __future__ import annotations

import json

from realtime_engine.simulation.motion import ShapePoint


def position_payload(
    point: ShapePoint, *, speed_mps: float, odometer_m: float, timestamp: int
) -> bytes:
    return json.dumps(
        {
            "latitude": round(point.latitude, 7),
            "longitude": round(point.longitude, 7),
            "bearing": round(point.bearing_deg, 1),
            "speed": round(speed_mps, 2),
            "odometer": round(odometer_m),
            "timestamp": timestamp,
        }
    ).encode()


def occupancy_payload(*, count: int, percentage: int, timestamp: int) -> bytes:
    return json.dumps(
        {"occupancy_percentage": percentage, "occupancy_count": count, "timestamp": timestamp}
    ).encode()
