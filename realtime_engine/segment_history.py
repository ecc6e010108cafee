"""Observed travel times of stop-to-stop segments by hour, for the predictor, cached in-process.

Read from the bounded ``SegmentTravelSample`` table (at most ``MAX_SAMPLES`` per
segment and hour, kept from the stop events by ``realtime_engine.segment_samples``, a
periodic task) with one query, and kept for ``PREDICTION_HISTORY_REFRESH_S``: the
progression observer asks for it per batch and the database sees one query per refresh,
never one per position. Keys are stop ids (a segment is the same street whatever trip
drives it) and the UTC hour of the arrival at its first stop; ``segment_history_at_hour``
presents one hour's segments to the predictor (the hour of the position being predicted
from).

**The ingest thread never waits for a reload.** A history past its refresh age is still
served, and one daemon thread per process (started on the first stale call, again after
a fork) reloads it and swaps it in. Only the first call of a process (or after
``invalidate``) loads in the caller: a worker's first predictions then have their
history rather than the schedule alone for a refresh period, and that load is one query
over a table bounded by the network (50 rows per segment and hour), not by time and fleet.
When the database cannot be read (a PostgreSQL restart), the last history keeps being
served (none yet: an empty one, predictions from the schedule alone) and is reloaded
``db_health.RETRY_AFTER_S`` later.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from django.conf import settings
from django.db import connection, connections

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from realtime_engine.models import SegmentTravelSample
from realtime_engine.segment_samples import MAX_SAMPLES

logger = logging.getLogger(__name__)

# (from stop_id, to stop_id, UTC hour of the departure-side arrival) → travel times (s).
StopSegmentHistory = Mapping[tuple[str, str, int], Sequence[float]]

# One row per key, its samples newest first: Python builds one tuple per key, not one
# object per sample (a reload in this process's thread holds the GIL the ingest needs).
_QUERY = f"""
SELECT from_stop_id, to_stop_id, hour,
       (array_agg(EXTRACT(EPOCH FROM reached_at - arrived_at)::float8
                  ORDER BY reached_at DESC))[1:{MAX_SAMPLES}]
FROM {SegmentTravelSample._meta.db_table}
WHERE arrived_at >= now() - make_interval(days => %s)
GROUP BY from_stop_id, to_stop_id, hour
"""


def segment_history_load(days: int) -> dict[tuple[str, str, int], tuple[float, ...]]:
    """Every segment's recent travel times (newest first, at most ``MAX_SAMPLES`` each)."""
    with connection.cursor() as cursor:
        cursor.execute(_QUERY, [days])
        return {(f, t, h): tuple(seconds) for f, t, h, seconds in cursor}


_cached: tuple[float, StopSegmentHistory] | None = None
_lock = threading.Lock()
_outage = Outage("segment history")


def segment_history_reload() -> StopSegmentHistory:
    """Load the history now, in the calling thread, and serve it (the last one on failure)."""
    global _cached
    now = time.monotonic()
    with _lock:
        try:
            _cached = (now, segment_history_load(settings.PREDICTION_HISTORY_DAYS))
        except DATABASE_UNAVAILABLE as error:
            _outage.failed(error)
            refresh_s = settings.PREDICTION_HISTORY_REFRESH_S
            _cached = (now - refresh_s + RETRY_AFTER_S, _cached[1] if _cached else {})
        else:
            _outage.recovered()
        return _cached[1]


class _Reloader:
    """This process's reload thread: reloads whenever asked, one reload at a time."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wanted = threading.Event()
        self.busy = False
        self.thread = threading.Thread(target=self._run, name="segment-history-reload", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            self.busy = True
            try:
                segment_history_reload()
            except Exception:  # not an outage (those are served through): the thread lives on
                logger.exception("segment history: reload failed; the last history is served")
            finally:
                # Its own connection, closed each time: nothing held between reloads (every
                # few minutes), and a connection the server dropped is never reused.
                connections.close_all()
                # Asked meanwhile: the history just loaded is fresh, nothing is due.
                self.wanted.clear()
                self.busy = False


_reloader: _Reloader | None = None


def _reload_in_background() -> None:
    global _reloader
    reloader = _reloader
    if reloader is None or reloader.pid != os.getpid():  # none yet, or forked from its process
        with _lock:
            if _reloader is None or _reloader.pid != os.getpid():
                _reloader = _Reloader()
            reloader = _reloader
    reloader.wanted.set()


def reload_in_flight() -> bool:
    """Whether this process's reload thread is loading a history now (tests, metrics)."""
    reloader = _reloader
    return reloader is not None and reloader.pid == os.getpid() and reloader.busy


def segment_history_get() -> StopSegmentHistory:
    """The cached history; one older than ``PREDICTION_HISTORY_REFRESH_S`` is served while
    the reload thread replaces it. The first call of a process loads it in the caller."""
    cached = _cached
    if cached is None:
        with _lock:
            cached = _cached
        if cached is None:
            return segment_history_reload()
    if time.monotonic() - cached[0] > settings.PREDICTION_HISTORY_REFRESH_S:
        _reload_in_background()
    return cached[1]


def invalidate() -> None:
    """Load in the caller on the next call (tests, after updating the segment samples)."""
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
