"""The prediction-log rows of one published TripUpdates feed. Pure.

The rows are what riders were told, read back from the feed's own bytes (never from
the hot state the feed was built from): one row per trip entity and stop time update
with an arrival time ahead of the feed's header timestamp, at most ``max_horizon_s``
ahead. Left out: a CANCELED trip, a SKIPPED or NO_DATA update, an update without an
arrival time (GTFS-RT allows a departure only, at a first stop: the log is of arrivals,
as the stop events' ``arrived_at`` it is measured against) or without a stop_sequence
(the stop events are keyed by it), an arrival at or before the header timestamp (the
vehicle is there: nothing is predicted), an entity whose ``start_date`` is absent or
not a date (its stop events cannot be found).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from google.transit import gtfs_realtime_pb2 as rt

_CANCELED = rt.TripDescriptor.ScheduleRelationship.CANCELED
_SKIPPED = rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.SKIPPED
_NO_DATA = rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.NO_DATA


@dataclass(frozen=True, slots=True)
class LoggedPrediction:
    """One row of ``reports.models.PredictionLog``; fields in ``COLUMNS`` order."""

    predicted_at: datetime
    trip_id: str
    route_id: str
    direction_id: int | None
    start_date: date
    start_time: str
    stop_id: str
    stop_sequence: int
    vehicle_id: str
    predicted_arrival: datetime
    horizon_s: int


COLUMNS = tuple(LoggedPrediction.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Sample:
    """One feed's rows and its header timestamp (the sample's identity)."""

    predicted_at: datetime
    rows: tuple[LoggedPrediction, ...]


def sample_of(payload: bytes, *, max_horizon_s: int) -> Sample:
    """The rows of a serialised ``FeedMessage``; raises ``google.protobuf.message.DecodeError``
    on bytes that are not one."""
    feed = rt.FeedMessage()
    feed.ParseFromString(payload)
    now = feed.header.timestamp
    predicted_at = datetime.fromtimestamp(now, UTC)
    rows: list[LoggedPrediction] = []
    for entity in feed.entity:
        if not entity.HasField("trip_update"):
            continue
        update = entity.trip_update
        trip = update.trip
        if trip.schedule_relationship == _CANCELED or not trip.trip_id:
            continue
        start_date = _service_date(trip.start_date)
        if start_date is None:
            continue
        direction_id = trip.direction_id if trip.HasField("direction_id") else None
        vehicle_id = update.vehicle.id if update.HasField("vehicle") else ""
        for stu in update.stop_time_update:
            if (
                stu.schedule_relationship in (_SKIPPED, _NO_DATA)
                or not stu.HasField("arrival")
                or not stu.HasField("stop_sequence")
            ):
                continue
            arrival = stu.arrival.time
            horizon = arrival - now
            if not arrival or horizon <= 0 or horizon > max_horizon_s:
                continue
            rows.append(
                LoggedPrediction(
                    predicted_at,
                    trip.trip_id,
                    trip.route_id,
                    direction_id,
                    start_date,
                    trip.start_time,
                    stu.stop_id,
                    stu.stop_sequence,
                    vehicle_id,
                    datetime.fromtimestamp(arrival, UTC),
                    horizon,
                )
            )
    return Sample(predicted_at, tuple(rows))


def _service_date(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
