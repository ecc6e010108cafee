"""The dead letters a recorded day would have left: which bad payloads, from whom, when. Pure.

About one run in ``RUNS_PER_LETTER`` sends one invalid message at a moment of its trip,
of a kind drawn from ``KINDS`` (a tracker's clock in milliseconds and a lost GPS fix most
often, then cut-off or mistyped JSON, an impossible latitude, a negative speed). The
shell builds the bytes with the simulator's fault payloads
(``realtime_engine.simulation.faults.invalid_payload``) and has the ingest's own decoder
reject them, so each letter carries the reason and message a real one would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from realtime_engine.simulation.faults import InvalidPayload
from realtime_engine.simulation.motion import motion_sample, shape_point
from reports.demo_history.day import PlannedRun

RUNS_PER_LETTER = 25
KINDS: tuple[tuple[InvalidPayload, int], ...] = (
    (InvalidPayload.TIMESTAMP_IN_MILLISECONDS, 30),
    (InvalidPayload.MISSING_COORDINATES, 30),
    (InvalidPayload.NOT_JSON, 15),
    (InvalidPayload.LATITUDE_OUT_OF_RANGE, 10),
    (InvalidPayload.NEGATIVE_SPEED, 10),
    (InvalidPayload.WRONG_TYPE, 5),
)


@dataclass(frozen=True, slots=True)
class PlannedLetter:
    at: float  # POSIX: when the broker delivered it
    vehicle_number: int
    payload: InvalidPayload
    latitude: float  # where the vehicle was (the payload's coordinates, where it has any)
    longitude: float


def dead_letters(plan: Sequence[PlannedRun], *, seed: str) -> list[PlannedLetter]:
    """The day's letters, in time order."""
    kinds, weights = zip(*KINDS, strict=True)
    out = []
    for run in plan:
        trip = run.trip
        rng = random.Random(f"{seed}|letter|{trip.trip_id}|{trip.service_date}|{trip.start_time}")
        if rng.random() >= 1 / RUNS_PER_LETTER:
            continue
        t = rng.uniform(run.motion.departure_s, run.motion.arrival_s)
        point = shape_point(run.motion.geometry, motion_sample(run.motion, t).distance_m)
        kind = rng.choices(kinds, weights=weights)[0]
        out.append(
            PlannedLetter(
                run.taken_at + t, run.vehicle_number, kind, point.latitude, point.longitude
            )
        )
    return sorted(out, key=lambda letter: (letter.at, letter.vehicle_number))
