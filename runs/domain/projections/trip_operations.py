"""Contract of `trip_operations`: the dispatchers' changes to trips that TripUpdates publishes.

One hash for the whole network (``databus.keys.TRIP_OPERATIONS``): field = the operation's
id (``runs.TripOperation`` primary key, as text), value = one JSON record, decoded here.
Written by ``runs.services.trip_operations`` when an operation starts or ends (and whole
by the hot-state rebuild from PostgreSQL); read by every TripUpdates build
(``schedule_engine.feeds``), which publishes:

- ``CANCEL``: the trip on ``start_date`` as a CANCELED TripUpdate, though no run exists;
- ``ADD``: a trip outside the schedule (``trip_id`` new to the GTFS) as a NEW TripUpdate
  with every stop time given, its route, direction, start date and time, and its vehicle;
- ``SKIP_STOPS``: the trip's stops at ``skipped_stop_sequences`` as SKIPPED stop time
  updates (merged into its run's TripUpdate when a run operates it).

Each record is published until ``active_until`` (POSIX s), and not before
``active_from``. Times are POSIX seconds. Pure.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import StoredRead
from runs.domain.telemetry.limits import STOP_SEQUENCE_RANGE

# Bounds of what one operation may carry (the service refuses more, the reader too).
MAX_STOP_TIMES = 500
MAX_SKIPPED_STOPS = 500


class TripOperationKind(StrEnum):
    CANCEL = "cancel"
    ADD = "add"
    SKIP_STOPS = "skip_stops"


class AddedStopTime(msgspec.Struct, frozen=True, array_like=True):
    """One stop of an added trip: its sequence, stop and POSIX arrival/departure."""

    stop_sequence: int
    stop_id: str
    arrival: int
    departure: int


class TripOperationRecord(msgspec.Struct, frozen=True):
    operation_id: str
    kind: TripOperationKind
    trip_id: str
    start_date: str  # YYYYMMDD, the service day
    active_from: int  # POSIX s
    active_until: int  # POSIX s
    route_id: str = ""
    direction_id: int | None = None
    start_time: str = ""  # HH:MM:SS (may exceed 24:00:00)
    vehicle_id: str = ""  # ADD: the vehicle that operates it
    stop_times: tuple[AddedStopTime, ...] = ()  # ADD
    skipped_stop_sequences: tuple[int, ...] = ()  # SKIP_STOPS


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TripOperationRecord)


def encode(record: TripOperationRecord) -> str:
    """Strict: the stored text; raises ``ValueError`` on a record that breaks its bounds."""
    problem = record_problem(record)
    if problem is not None:
        raise ValueError(problem)
    return _encoder.encode(record).decode()


def record_problem(record: TripOperationRecord) -> str | None:
    """What is wrong with ``record`` (None: nothing), in words a dispatcher understands."""
    if not record.trip_id:
        return "trip_id is required"
    if record.active_until <= record.active_from:
        return "active_until must be after active_from"
    if len(record.stop_times) > MAX_STOP_TIMES:
        return f"at most {MAX_STOP_TIMES} stop times"
    if len(record.skipped_stop_sequences) > MAX_SKIPPED_STOPS:
        return f"at most {MAX_SKIPPED_STOPS} skipped stops"
    low, high = STOP_SEQUENCE_RANGE
    if record.kind is TripOperationKind.ADD:
        if len(record.stop_times) < 2:
            return "an added trip needs at least two stop times"
        if not record.vehicle_id:
            return "an added trip needs a vehicle"
        last = None
        for stop in record.stop_times:
            if not low <= stop.stop_sequence <= high:
                return f"stop_sequence {stop.stop_sequence} is out of range"
            if stop.departure < stop.arrival:
                return f"stop {stop.stop_sequence} departs before it arrives"
            if last is not None and (
                stop.stop_sequence <= last.stop_sequence or stop.arrival < last.departure
            ):
                return "stop times must increase in sequence and time"
            last = stop
    if record.kind is TripOperationKind.SKIP_STOPS:
        if not record.skipped_stop_sequences:
            return "name at least one stop to skip"
        if any(not low <= seq <= high for seq in record.skipped_stop_sequences):
            return "a skipped stop_sequence is out of range"
    return None


def decode(text: str) -> StoredRead[TripOperationRecord]:
    """Tolerant: the record, or None (with the field marked bad) if it cannot be used."""
    try:
        record = _decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return StoredRead(None, ("record",))
    if record_problem(record) is not None:
        return StoredRead(None, ("record",))
    return StoredRead(record, ())


def is_published(record: TripOperationRecord, now: float) -> bool:
    """Whether TripUpdates carries the operation at ``now``."""
    return record.active_from <= now < record.active_until
