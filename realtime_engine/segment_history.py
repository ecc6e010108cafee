"""Observed travel times of stop-to-stop segments by hour, for the predictor, cached in-process.

Loaded from the ``StopEvent`` table with one query (consecutive events of each run
over the last ``PREDICTION_HISTORY_DAYS``) and kept for
``PREDICTION_HISTORY_REFRESH_S``: the progression observer asks for it per batch and
the database sees one query per refresh, never one per position. Keys are stop ids
(a segment is the same street whatever trip drives it) and the UTC hour of the
arrival at its first stop; ``segment_history_at_hour`` presents one hour's segments to the
predictor (the hour of the position being predicted from). When the database cannot
be read (a PostgreSQL restart), the last history keeps being served (none yet: an empty
one, predictions from the schedule alone) and is reloaded ``db_health.RETRY_AFTER_S`` later.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from django.conf import settings
from django.db import connection

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from realtime_engine.models import StopEvent

# Only the most recent samples of a segment and hour are kept (the predictor takes a median).
MAX_SAMPLES = 50

# (from stop_id, to stop_id, UTC hour of the departure-side arrival) → travel times (s).
StopSegmentHistory = Mapping[tuple[str, str, int], Sequence[float]]

_QUERY = f"""
SELECT stop_id, next_stop_id, EXTRACT(HOUR FROM arrived_at AT TIME ZONE 'UTC')::int,
       EXTRACT(EPOCH FROM next_arrived_at - arrived_at)
FROM (
    SELECT stop_id, arrived_at,
           LEAD(stop_id) OVER run_order AS next_stop_id,
           LEAD(arrived_at) OVER run_order AS next_arrived_at
    FROM {StopEvent._meta.db_table}
    WHERE arrived_at >= now() - make_interval(days => %s)
    WINDOW run_order AS (PARTITION BY run_id ORDER BY stop_sequence)
) AS consecutive
WHERE next_arrived_at > arrived_at
ORDER BY next_arrived_at DESC
"""


def segment_history_load(days: int) -> dict[tuple[str, str, int], tuple[float, ...]]:
    """Every segment's recent travel times (newest first, at most ``MAX_SAMPLES`` each)."""
    samples: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_QUERY, [days])
        for from_stop, to_stop, hour, seconds in cursor:
            bucket = samples[(from_stop, to_stop, hour)]
            if len(bucket) < MAX_SAMPLES:
                bucket.append(float(seconds))
    return {key: tuple(values) for key, values in samples.items()}


_cached: tuple[float, StopSegmentHistory] | None = None
_lock = threading.Lock()
_outage = Outage("segment history")


def segment_history_get() -> StopSegmentHistory:
    """The cached history, reloaded when older than ``PREDICTION_HISTORY_REFRESH_S``."""
    global _cached
    now = time.monotonic()
    refresh_s = settings.PREDICTION_HISTORY_REFRESH_S
    cached = _cached
    if cached is not None and now - cached[0] <= refresh_s:
        return cached[1]
    with _lock:
        if _cached is None or now - _cached[0] > refresh_s:
            try:
                _cached = (now, segment_history_load(settings.PREDICTION_HISTORY_DAYS))
            except DATABASE_UNAVAILABLE as error:
                _outage.failed(error)
                _cached = (now - refresh_s + RETRY_AFTER_S, _cached[1] if _cached else {})
            else:
                _outage.recovered()
        return _cached[1]


def invalidate() -> None:
    """Reload on the next call (tests, after writing stop events)."""
    global _cached
    _cached = None


# One loaded history split by hour (the history it was split from, hour → segments): the
# predictor looks up every remaining stop of every matched run in one hour's segments.
_by_hour: tuple[StopSegmentHistory, dict[int, dict[tuple[str, str], Sequence[float]]]] | None = None
_NO_SEGMENTS: Mapping[tuple[str, str], Sequence[float]] = MappingProxyType({})


def segment_history_at_hour(
    history: StopSegmentHistory, hour: int
) -> Mapping[tuple[str, str], Sequence[float]]:
    """The segments of one UTC hour of the day under the predictor's (from stop, to stop)
    keys: a dict read per stop, split once per loaded history rather than per prediction."""
    global _by_hour
    split = _by_hour
    if split is None or split[0] is not history:
        hours: dict[int, dict[tuple[str, str], Sequence[float]]] = defaultdict(dict)
        for (from_stop, to_stop, at_hour), samples in history.items():
            hours[at_hour][(from_stop, to_stop)] = samples
        split = _by_hour = (history, dict(hours))
    return split[1].get(hour, _NO_SEGMENTS)
