"""Durable stop events: one multi-row upsert per ingest batch into ``StopEvent`` (the table).

The progression observer collects the stop events the matcher completed for every
run of a batch and calls ``stop_events_write`` once. Column arrays go through
``unnest`` into ``INSERT … ON CONFLICT (run, stop_sequence) DO UPDATE``: a
redelivered position writes the same row again, and a stop recorded again (a run
back at its first stops after a terminal loop, or a late fix re-matched) keeps the
times of the newest matcher state. Each row carries the ``revision`` of the matcher
state that produced it, and the update applies only when that revision is not older
than the stored row's: two workers committing one run's events in either order leave
the newest state's (equal revisions are one write, with equal values). Uses the
calling thread's Django connection; errors propagate to the observer's caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from realtime_engine.models import StopEvent as StopEventModel
from runs.domain.progression.stop_events import StopCall

TABLE = StopEventModel._meta.db_table

_UPSERT = f"""
INSERT INTO {TABLE}
    (run_id, trip_id, service_date, stop_sequence, stop_id, arrived_at, departed_at, source,
     revision)
SELECT r, t, d, q, s, to_timestamp(a), to_timestamp(l), o, v
FROM unnest(%s::uuid[], %s::text[], %s::date[], %s::int[], %s::text[], %s::float8[],
            %s::float8[], %s::text[], %s::int8[]) AS u(r, t, d, q, s, a, l, o, v)
ON CONFLICT (run_id, stop_sequence) DO UPDATE SET
    stop_id = EXCLUDED.stop_id,
    arrived_at = EXCLUDED.arrived_at,
    departed_at = EXCLUDED.departed_at,
    source = EXCLUDED.source,
    revision = EXCLUDED.revision
WHERE {TABLE}.revision <= EXCLUDED.revision
"""


@dataclass(frozen=True, slots=True)
class RunStopEvent:
    """A matcher's ``StopCall`` with the run it belongs to (what a row needs besides it)."""

    run_id: str
    trip_id: str
    service_date: dt.date
    event: StopCall
    revision: int = 0  # of the matcher state that produced it (see the module docstring)


def stop_events_write(events: Iterable[RunStopEvent]) -> int:
    """Upsert the events in one statement; returns how many distinct rows were sent."""
    # One statement may not touch a row twice: the newest revision's, else the latest, wins.
    latest: dict[tuple[str, int], RunStopEvent] = {}
    for e in events:
        key = (e.run_id, e.event.stop_sequence)
        if key not in latest or latest[key].revision <= e.revision:
            latest[key] = e
    if not latest:
        return 0
    rows = list(latest.values())
    columns = (
        [e.run_id for e in rows],
        [e.trip_id for e in rows],
        [e.service_date for e in rows],
        [e.event.stop_sequence for e in rows],
        [e.event.stop_id for e in rows],
        [e.event.arrived_at for e in rows],
        [e.event.departed_at for e in rows],
        [e.event.source.value for e in rows],
        [e.revision for e in rows],
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT, columns)
    except Exception:
        # A broken connection is replaced on the next batch rather than failing forever.
        connection.close_if_unusable_or_obsolete()
        raise
    return len(rows)
