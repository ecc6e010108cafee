"""Contract of `run:{rid}:stop_time_updates`: a run's arrival/departure times, stop by stop.

Written by the progression producer (``realtime_engine.progression``) after each
matched position: predictions for the remaining stops, observed times for the
stops already passed. Read by the TripUpdates feed builder and the REST API.

The hash holds two fields: ``timestamp`` (POSIX s of the position the updates were
computed from) and ``updates``, a JSON array of ``[stop_sequence, stop_id, arrival,
departure, uncertainty_s, observed]`` rows in stop order (one field, so that a feed
build reads a run with one ``HGETALL`` and decodes it with one msgspec call).
Times are POSIX seconds; ``departure`` is null at the last stop; ``uncertainty_s``
is null for observed times. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from runs.domain.telemetry.fields import (
    StoredFields,
    StoredRead,
    check_timestamp,
    require,
)
from runs.domain.telemetry.limits import (
    MILLISECONDS_THRESHOLD,
    MIN_POSIX_SECONDS,
    STOP_SEQUENCE_RANGE,
    STOP_TIME_MAX_OFFSET_S,
    UNCERTAINTY_RANGE_S,
)
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

TIMESTAMP = "timestamp"
UPDATES = "updates"
FIELDS = (TIMESTAMP, UPDATES)


class StopTimeUpdate(msgspec.Struct, frozen=True, array_like=True):
    stop_sequence: int
    stop_id: str
    arrival: int | None
    departure: int | None
    uncertainty_s: int | None = None  # None: an observed time, or nothing known
    observed: bool = False  # the vehicle has passed this stop: the times are what happened


class StopTimeUpdates(msgspec.Struct, frozen=True):
    timestamp: int
    updates: tuple[StopTimeUpdate, ...]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(tuple[StopTimeUpdate, ...])


def _check_order(updates: Sequence[StopTimeUpdate], timestamp: int) -> None:
    """Strictly increasing stop_sequence and times (a stop may arrive and depart at once),
    each within the bounds of ``limits``."""
    previous_sequence = -1
    previous_time: int | None = None
    low, high = _time_bounds(timestamp)
    for update in updates:
        if update.stop_sequence <= previous_sequence:
            raise TelemetryRejected(
                RejectReason.INVALID_VALUE,
                f"stop_sequence {update.stop_sequence} after {previous_sequence}",
            )
        if update.arrival is None and update.departure is None:
            raise TelemetryRejected(
                RejectReason.MISSING_FIELD, f"stop {update.stop_sequence} has no time"
            )
        if update.uncertainty_s is not None and update.uncertainty_s < 0:
            raise TelemetryRejected(
                RejectReason.INVALID_VALUE, f"stop {update.stop_sequence} uncertainty < 0"
            )
        times = [check_timestamp(t) for t in (update.arrival, update.departure) if t is not None]
        if not _within_bounds(update, low, high):
            raise TelemetryRejected(
                RejectReason.INVALID_VALUE,
                f"stop {update.stop_sequence}: stop_sequence, a time or the uncertainty is "
                "outside its bounds",
            )
        if len(times) == 2 and times[1] < times[0]:
            raise TelemetryRejected(
                RejectReason.INVALID_VALUE, f"stop {update.stop_sequence} departs before arriving"
            )
        if previous_time is not None and times[0] <= previous_time:
            raise TelemetryRejected(
                RejectReason.INVALID_VALUE,
                f"stop {update.stop_sequence} time {times[0]} not after {previous_time}",
            )
        previous_time = times[-1]
        previous_sequence = update.stop_sequence


def _plainly_valid(updates: Sequence[StopTimeUpdate], timestamp: int) -> bool:
    """True only for rows ``_check_order`` accepts, checked in one pass without building
    anything: integer times, each row with its arrival (the predictor's every row). The
    progression producer validates a whole trip's rows on every matched position; any
    other row (a missing arrival, a float, a value out of bounds) is left to
    ``_check_order``, which accepts or names the fault."""
    low = max(timestamp - STOP_TIME_MAX_OFFSET_S, MIN_POSIX_SECONDS)
    high = min(timestamp + STOP_TIME_MAX_OFFSET_S, MILLISECONDS_THRESHOLD - 1)
    lowest_sequence, highest_sequence = STOP_SEQUENCE_RANGE
    least_uncertainty, most_uncertainty = UNCERTAINTY_RANGE_S
    previous_sequence, previous_time = -1, None
    for update in updates:
        sequence, arrival, departure = update.stop_sequence, update.arrival, update.departure
        uncertainty = update.uncertainty_s
        if (
            sequence.__class__ is not int
            or not previous_sequence < sequence <= highest_sequence
            or sequence < lowest_sequence
            or arrival.__class__ is not int
            or not low <= arrival <= high
            or (previous_time is not None and arrival <= previous_time)
        ):
            return False
        if departure is not None and (
            departure.__class__ is not int or not arrival <= departure <= high
        ):
            return False
        if uncertainty is not None and (
            uncertainty.__class__ is not int
            or not max(0, least_uncertainty) <= uncertainty <= most_uncertainty
        ):
            return False
        previous_sequence = sequence
        previous_time = arrival if departure is None else departure
    return True


def validate_for_write(value: StopTimeUpdates) -> dict[str, str]:
    """Strict: the hash fields; raises ``TelemetryRejected`` on a missing or invalid value."""
    timestamp = check_timestamp(require(TIMESTAMP, value.timestamp))
    if not _plainly_valid(value.updates, timestamp):
        _check_order(value.updates, timestamp)
    return {TIMESTAMP: str(timestamp), UPDATES: _encoder.encode(value.updates).decode()}


def _time_bounds(timestamp: int) -> tuple[int, int]:
    """The earliest and latest time a row of updates computed at ``timestamp`` may hold."""
    return timestamp - STOP_TIME_MAX_OFFSET_S, timestamp + STOP_TIME_MAX_OFFSET_S


_LOWEST_SEQUENCE, _HIGHEST_SEQUENCE = STOP_SEQUENCE_RANGE
_LEAST_UNCERTAINTY, _MOST_UNCERTAINTY = UNCERTAINTY_RANGE_S


def _within_bounds(update: StopTimeUpdate, low: int, high: int) -> bool:
    """Every number of one row fits its protobuf type and is plausible for this trip (times
    between ``low`` and ``high``, from ``_time_bounds``)."""
    return _all_within_bounds((update,), low, high)


def _all_within_bounds(updates: Sequence[StopTimeUpdate], low: int, high: int) -> bool:
    """``_within_bounds`` of every row, in one loop: a feed build checks every row of every
    run (a million at 50,000 runs), and a call per row costs more than its comparisons."""
    lowest_sequence, highest_sequence = _LOWEST_SEQUENCE, _HIGHEST_SEQUENCE
    least_uncertainty, most_uncertainty = _LEAST_UNCERTAINTY, _MOST_UNCERTAINTY
    for update in updates:
        arrival, departure, uncertainty = update.arrival, update.departure, update.uncertainty_s
        if not (
            lowest_sequence <= update.stop_sequence <= highest_sequence
            and (arrival is None or low <= arrival <= high)
            and (departure is None or low <= departure <= high)
            and (uncertainty is None or least_uncertainty <= uncertainty <= most_uncertainty)
        ):
            return False
    return True


def from_redis(fields: Mapping[str, str]) -> StopTimeUpdates | None:
    """Tolerant: None without a timestamp or readable updates; rows out of bounds dropped."""
    return read_stored(fields).value


def observed_from_redis(fields: Mapping[str, str]) -> tuple[StopTimeUpdate, ...]:
    """The observed rows of what ``from_redis`` reads, and only those: the matcher reads
    a run's passed stops back on every batch another worker wrote, and checks the bounds
    of those rows alone."""
    read = _rows_read(StoredFields(fields))
    if read is None:
        return ()
    timestamp, updates = read
    low, high = _time_bounds(timestamp)
    return tuple(u for u in updates if u.observed and _within_bounds(u, low, high))


def read_stored(fields: Mapping[str, str]) -> StoredRead[StopTimeUpdates]:
    """``from_redis`` that also names the stored fields it could not use (``updates`` when
    it is unreadable or when a row was dropped for a number outside its bounds)."""
    stored = StoredFields(fields)
    read = _rows_read(stored)
    if read is None:
        return stored.result(None)
    timestamp, updates = read
    low, high = _time_bounds(timestamp)
    # A feed build reads every row of every run: the common all-good case copies nothing.
    if not _all_within_bounds(updates, low, high):
        updates = tuple(u for u in updates if _within_bounds(u, low, high))
        stored.mark_bad(UPDATES)
    return stored.result(StopTimeUpdates(timestamp=timestamp, updates=updates))


def _rows_read(stored: StoredFields) -> tuple[int, tuple[StopTimeUpdate, ...]] | None:
    """The timestamp and the decoded rows, bounds unchecked; None without either (an
    undecodable ``updates`` is marked bad)."""
    timestamp = stored.timestamp(TIMESTAMP)
    raw = stored.text(UPDATES)
    if raw is None:
        return None
    try:
        updates = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        stored.mark_bad(UPDATES)
        return None
    if timestamp is None:
        return None
    return timestamp, updates
