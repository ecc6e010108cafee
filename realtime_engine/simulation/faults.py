"""Fault injection for the simulator: who goes silent when, which bad payloads go out when. Pure.

``fault_plan`` decides, from the chosen ``FaultKind``s, the vehicle ids and a seed:
- ``stale``: one vehicle (picked by the seed) sends nothing for ``stale_gap_s``
  simulated seconds from ``STALE_START_S``, then resumes; the caller sizes the gap
  beyond the server's no-signal threshold (so its run goes No Signal and back);
- ``malformed``: a few invalid payloads (not JSON, not an object, no coordinates, a
  wrong type, milliseconds, a negative speed or occupancy), one every
  ``INJECTION_EVERY_S`` — each one lands in the dead-letter stream;
- ``out_of_bounds``: positions with latitude / longitude outside WGS84 ranges.
Injected payloads go out beside the vehicle's regular telemetry, never instead of it.
``invalid_payload`` builds the bytes. Read by ``runner`` every tick.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from realtime_engine.ingest.topics import TelemetryLeaf


class FaultKind(StrEnum):
    STALE = "stale"
    MALFORMED = "malformed"
    OUT_OF_BOUNDS = "out_of_bounds"


class InvalidPayload(StrEnum):
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_COORDINATES = "missing_coordinates"
    WRONG_TYPE = "wrong_type"
    TIMESTAMP_IN_MILLISECONDS = "timestamp_in_milliseconds"
    NEGATIVE_SPEED = "negative_speed"
    NEGATIVE_OCCUPANCY = "negative_occupancy"
    LATITUDE_OUT_OF_RANGE = "latitude_out_of_range"
    LONGITUDE_OUT_OF_RANGE = "longitude_out_of_range"


# Sent once each, in this order, one every INJECTION_EVERY_S simulated seconds.
PAYLOADS_OF: dict[FaultKind, tuple[InvalidPayload, ...]] = {
    FaultKind.MALFORMED: (
        InvalidPayload.NOT_JSON,
        InvalidPayload.NOT_AN_OBJECT,
        InvalidPayload.MISSING_COORDINATES,
        InvalidPayload.WRONG_TYPE,
        InvalidPayload.TIMESTAMP_IN_MILLISECONDS,
        InvalidPayload.NEGATIVE_SPEED,
        InvalidPayload.NEGATIVE_OCCUPANCY,
    ),
    FaultKind.OUT_OF_BOUNDS: (
        InvalidPayload.LATITUDE_OUT_OF_RANGE,
        InvalidPayload.LONGITUDE_OUT_OF_RANGE,
    ),
}
FIRST_INJECTION_S: dict[FaultKind, int] = {FaultKind.MALFORMED: 20, FaultKind.OUT_OF_BOUNDS: 35}
INJECTION_EVERY_S = 30
# The silent vehicle stops this long (simulated) after the start: well into its first trip,
# after its run has had time to start (at a high speed-up the detectors need a few fixes).
STALE_START_S = 300


@dataclass(frozen=True, slots=True)
class Silence:
    vehicle_id: str
    start_s: float
    end_s: float

    def covers(self, vehicle_id: str, t: float) -> bool:
        return vehicle_id == self.vehicle_id and self.start_s <= t < self.end_s


@dataclass(frozen=True, slots=True)
class Injection:
    at_s: int
    vehicle_id: str
    payload: InvalidPayload

    @property
    def leaf(self) -> TelemetryLeaf:
        if self.payload is InvalidPayload.NEGATIVE_OCCUPANCY:
            return TelemetryLeaf.OCCUPANCY
        return TelemetryLeaf.POSITION


@dataclass(frozen=True, slots=True)
class FaultPlan:
    silences: tuple[Silence, ...] = ()
    injections: tuple[Injection, ...] = ()

    def silenced(self, vehicle_id: str, t: float) -> bool:
        return any(silence.covers(vehicle_id, t) for silence in self.silences)

    def injections_at(self, t: int) -> tuple[Injection, ...]:
        return tuple(injection for injection in self.injections if injection.at_s == t)


NO_FAULTS = FaultPlan()


def fault_kinds_parse(text: str) -> frozenset[FaultKind]:
    """``"stale,malformed"`` → the kinds; raises ``ValueError`` naming an unknown one."""
    kinds = set()
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            kinds.add(FaultKind(name))
        except ValueError:
            known = ", ".join(kind.value for kind in FaultKind)
            raise ValueError(f"unknown fault {name!r} (known: {known})") from None
    return frozenset(kinds)


def fault_plan(
    kinds: Collection[FaultKind], vehicle_ids: Sequence[str], *, seed: str, stale_gap_s: float
) -> FaultPlan:
    if not vehicle_ids:
        return NO_FAULTS
    rng = random.Random(f"{seed}|faults")
    silences = ()
    if FaultKind.STALE in kinds:
        silent = rng.choice(list(vehicle_ids))
        silences = (Silence(silent, STALE_START_S, STALE_START_S + stale_gap_s),)
    injections = []
    for kind, payloads in PAYLOADS_OF.items():
        if kind not in kinds:
            continue
        for n, payload in enumerate(payloads):
            at_s = FIRST_INJECTION_S[kind] + n * INJECTION_EVERY_S
            injections.append(Injection(at_s, vehicle_ids[n % len(vehicle_ids)], payload))
    injections.sort(key=lambda injection: injection.at_s)
    return FaultPlan(silences, tuple(injections))


def invalid_payload(
    payload: InvalidPayload, *, latitude: float, longitude: float, timestamp: int
) -> bytes:
    """The bytes of one invalid message (for a vehicle near ``latitude``, ``longitude``)."""
    valid = {"latitude": latitude, "longitude": longitude, "speed": 5.0, "timestamp": timestamp}
    match payload:
        case InvalidPayload.NOT_JSON:
            return b'{"latitude": 9.93, "longitude": -84.08, "timestamp": '
        case InvalidPayload.NOT_AN_OBJECT:
            return json.dumps([latitude, longitude, timestamp]).encode()
        case InvalidPayload.MISSING_COORDINATES:
            body = {"speed": 5.0, "timestamp": timestamp}
        case InvalidPayload.WRONG_TYPE:
            body = {**valid, "latitude": "north"}
        case InvalidPayload.TIMESTAMP_IN_MILLISECONDS:
            body = {**valid, "timestamp": timestamp * 1000}
        case InvalidPayload.NEGATIVE_SPEED:
            body = {**valid, "speed": -3.0}
        case InvalidPayload.NEGATIVE_OCCUPANCY:
            body = {"occupancy_percentage": -10, "occupancy_count": 5, "timestamp": timestamp}
        case InvalidPayload.LATITUDE_OUT_OF_RANGE:
            body = {**valid, "latitude": 91.5}
        case InvalidPayload.LONGITUDE_OUT_OF_RANGE:
            body = {**valid, "longitude": longitude + 360.0 if longitude < 0 else 200.0}
    return json.dumps(body).encode()
