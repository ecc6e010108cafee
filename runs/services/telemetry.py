"""The latest telemetry of a run's vehicle, read from hot state for guards and detectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis

from databus import keys
from runs.domain.progression.state import MatchState
from runs.domain.telemetry import position as position_contract
from runs.domain.telemetry.position import Position

# The matcher-state field holding the furthest distance along the trip the vehicle was
# followed to (looked up so that a rename in the contract fails here, at import).
PROGRESSED_FIELD = MatchState.__dataclass_fields__["max_distance_m"].name


@dataclass(frozen=True, slots=True)
class RunTelemetry:
    position: Position | None
    last_seen: float | None  # latest of runs:last_seen and the position's timestamp
    progressed_m: float | None  # None until the map-matcher has followed the run


def progressed_m_parse(text: str | None) -> float | None:
    """Tolerant read of the matcher's progress: missing or unreadable is "unknown"."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def vehicle_telemetry_get(client: redis.Redis, *, vehicle_id: str, run_id: str) -> RunTelemetry:
    """The vehicle's latest position, the run's last-seen time and its matched progress."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.vehicle_position(vehicle_id))
    pipe.zscore(keys.RUNS_LAST_SEEN, run_id)
    pipe.hget(keys.run_progression(run_id), PROGRESSED_FIELD)
    mapping, score, progressed = pipe.execute()
    position = position_contract.from_redis(vehicle_id, mapping)
    seen = [t for t in (score, position.timestamp if position else None) if t is not None]
    return RunTelemetry(
        position=position,
        last_seen=float(max(seen)) if seen else None,
        progressed_m=progressed_m_parse(progressed),
    )
