"""The prediction history's samples, kept up to date from the stop events, set-based in SQL.

``segment_samples_update`` (the periodic task ``realtime_engine.update_segment_samples``)
takes the runs with a stop event upserted since the watermark, the newest
``StopEvent.revision`` it has seen, and re-derives their segment samples
(``SegmentTravelSample``) in which either event changed: a sample depends on its two
consecutive events only. Samples are keyed by (run, stop_sequence of the segment's first
stop), so deriving a pair again rewrites its sample: a run whose events arrive over time,
or are re-upserted with a newer revision, ends with the samples of its events as they
are, and a second pass adds nothing. Then each key it wrote keeps its newest
``MAX_SAMPLES`` and samples older than ``PREDICTION_HISTORY_DAYS`` go. All in one
transaction under an advisory lock (one update at a time; a killed one leaves the table
and the watermark as they were). No watermark (a new installation, or
``segment_samples_rebuild``): every run of the history's days is derived, once.

A sample is what the former full reload (``REFERENCE_QUERY``) computed: consecutive
recorded events of a run, by stop_sequence, within the history's days, whose arrival
times increase; the UTC hour of the first arrival; newest by the second arrival.

Revisions are Redis-clock microseconds taken before the upsert commits, so a row can
commit with a revision below the watermark of an update that ran meanwhile: each pass
looks ``COMMIT_LAG_US`` behind its watermark. A stop event committed later than that
after its revision (none on the live path) reaches the samples at the next rebuild.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db import connection, transaction

from realtime_engine.models import SegmentSampleWatermark, SegmentTravelSample, StopEvent

# Only the most recent samples of a segment and hour are kept (the predictor takes a median).
MAX_SAMPLES = 50

# How far behind its watermark an update looks again (µs): the longest a stop event's
# upsert may take to commit after its matcher state's revision. Re-deriving a run costs
# only time (the result is the same), so this errs long.
COMMIT_LAG_US = 300 * 1_000_000

_EVENTS = StopEvent._meta.db_table
_SAMPLES = SegmentTravelSample._meta.db_table
_WATERMARK = SegmentSampleWatermark._meta.db_table

# pg_try_advisory_xact_lock key: one update at a time per database.
_ADVISORY_KEY = "realtime_engine.segment_samples"

# The former full reload, over every stop event of the days (newest first): the definition
# the table follows, kept as the tests' oracle and the benchmark's baseline.
REFERENCE_QUERY = f"""
SELECT stop_id, next_stop_id, EXTRACT(HOUR FROM arrived_at AT TIME ZONE 'UTC')::int,
       EXTRACT(EPOCH FROM next_arrived_at - arrived_at)
FROM (
    SELECT stop_id, arrived_at,
           LEAD(stop_id) OVER run_order AS next_stop_id,
           LEAD(arrived_at) OVER run_order AS next_arrived_at
    FROM {_EVENTS}
    WHERE arrived_at >= now() - make_interval(days => %s)
    WINDOW run_order AS (PARTITION BY run_id ORDER BY stop_sequence)
) AS consecutive
WHERE next_arrived_at > arrived_at
ORDER BY next_arrived_at DESC
"""

# Temporary tables: dropped first because a test's outer transaction never commits.
_DROP_TEMPORARY = (
    "DROP TABLE IF EXISTS pg_temp.segment_touched, pg_temp.segment_derived, pg_temp.segment_written"
)

_TOUCHED = f"""
CREATE TEMP TABLE segment_touched ON COMMIT DROP AS
SELECT DISTINCT run_id FROM {_EVENTS}
WHERE revision > %(since)s AND arrived_at >= now() - make_interval(days => %(days)s)
"""

# Each touched run's consecutive pairs in which either event changed since: a sample
# depends on its two events only (an event recorded between two others is a changed
# successor of the first). ``valid``: the pair makes a sample (a later second arrival).
_DERIVE = f"""
CREATE TEMP TABLE segment_derived ON COMMIT DROP AS
SELECT run_id, stop_sequence, stop_id AS from_stop_id, next_stop_id AS to_stop_id,
       EXTRACT(HOUR FROM arrived_at AT TIME ZONE 'UTC')::int AS hour,
       arrived_at, next_arrived_at AS reached_at,
       COALESCE(next_arrived_at > arrived_at, false) AS valid
FROM (
    SELECT e.run_id, e.stop_sequence, e.stop_id, e.arrived_at, e.revision,
           LEAD(e.stop_id) OVER run_order AS next_stop_id,
           LEAD(e.arrived_at) OVER run_order AS next_arrived_at,
           LEAD(e.revision) OVER run_order AS next_revision
    FROM {_EVENTS} AS e JOIN segment_touched USING (run_id)
    WHERE e.arrived_at >= now() - make_interval(days => %(days)s)
    WINDOW run_order AS (PARTITION BY e.run_id ORDER BY e.stop_sequence)
) AS consecutive
WHERE revision > %(since)s OR next_revision > %(since)s
"""

# A changed pair that no longer makes a sample (a time rewritten out of order).
_DELETE_STALE = f"""
DELETE FROM {_SAMPLES} AS s USING segment_derived AS d
WHERE s.run_id = d.run_id AND s.stop_sequence = d.stop_sequence AND NOT d.valid
"""

# Unchanged samples are not rewritten (no new row version for a run derived again); the
# keys of those written are the only ones that may have grown past MAX_SAMPLES.
_UPSERT = f"""
WITH written AS (
    INSERT INTO {_SAMPLES} (run_id, stop_sequence, from_stop_id, to_stop_id, hour,
                            arrived_at, reached_at)
    SELECT run_id, stop_sequence, from_stop_id, to_stop_id, hour, arrived_at, reached_at
    FROM segment_derived WHERE valid
    ON CONFLICT (run_id, stop_sequence) DO UPDATE SET
        from_stop_id = EXCLUDED.from_stop_id,
        to_stop_id = EXCLUDED.to_stop_id,
        hour = EXCLUDED.hour,
        arrived_at = EXCLUDED.arrived_at,
        reached_at = EXCLUDED.reached_at
    WHERE ({_SAMPLES}.from_stop_id, {_SAMPLES}.to_stop_id, {_SAMPLES}.arrived_at,
           {_SAMPLES}.reached_at)
        IS DISTINCT FROM (EXCLUDED.from_stop_id, EXCLUDED.to_stop_id, EXCLUDED.arrived_at,
                          EXCLUDED.reached_at)
    RETURNING from_stop_id, to_stop_id, hour
)
INSERT INTO segment_written SELECT * FROM written
"""

_WRITTEN = """
CREATE TEMP TABLE segment_written (from_stop_id text, to_stop_id text, hour int)
ON COMMIT DROP
"""

# Each key written keeps its newest MAX_SAMPLES: what lies past them in the key's index
# (ties: by run, stop), read per key, not the whole table ranked.
_TRIM = f"""
DELETE FROM {_SAMPLES} AS s USING (
    SELECT extra.run_id, extra.stop_sequence
    FROM (SELECT DISTINCT from_stop_id, to_stop_id, hour FROM segment_written) AS k
    CROSS JOIN LATERAL (
        SELECT x.run_id, x.stop_sequence FROM {_SAMPLES} AS x
        WHERE x.from_stop_id = k.from_stop_id AND x.to_stop_id = k.to_stop_id
          AND x.hour = k.hour
        ORDER BY x.reached_at DESC, x.run_id, x.stop_sequence
        OFFSET %(keep)s
    ) AS extra
) AS extra
WHERE s.run_id = extra.run_id AND s.stop_sequence = extra.stop_sequence
"""

_EXPIRE = f"""
DELETE FROM {_SAMPLES} WHERE arrived_at < now() - make_interval(days => %(days)s)
"""

_WATERMARK_SET = f"""
INSERT INTO {_WATERMARK} (id, revision, updated_at) VALUES (1, %(revision)s, now())
ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at
"""


@dataclass(frozen=True, slots=True)
class SamplesUpdate:
    """What one update did (the task's result)."""

    locked: bool  # False: another update held the lock, nothing was done
    rebuild: bool = False  # no watermark: every run of the days was derived
    runs: int = 0  # runs derived
    derived: int = 0  # samples of their changed events
    written: int = 0  # new or changed samples stored
    removed: int = 0  # stale, trimmed beyond MAX_SAMPLES, or older than the days
    watermark: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def segment_samples_update(*, days: int) -> SamplesUpdate:
    """Derive the samples of the runs with stop events upserted since the watermark, trim
    the keys they touched, expire samples older than ``days``; one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [_ADVISORY_KEY])
        if not cursor.fetchone()[0]:
            return SamplesUpdate(locked=False)
        cursor.execute(f"SELECT revision FROM {_WATERMARK} WHERE id = 1")
        row = cursor.fetchone()
        # Read before the runs are chosen: a row committed after this is derived next time.
        cursor.execute(f"SELECT COALESCE(max(revision), 0) FROM {_EVENTS}")
        newest = cursor.fetchone()[0]
        since = -1 if row is None else row[0] - COMMIT_LAG_US
        params = {"since": since, "days": days, "keep": MAX_SAMPLES}
        cursor.execute(_DROP_TEMPORARY)
        cursor.execute(_TOUCHED, params)
        runs = cursor.rowcount
        cursor.execute(_DERIVE, params)
        cursor.execute("SELECT count(*) FROM segment_derived WHERE valid")
        derived = cursor.fetchone()[0]
        removed = 0
        if row is None:
            cursor.execute(f"DELETE FROM {_SAMPLES}")
        else:
            cursor.execute(_DELETE_STALE)
            removed += cursor.rowcount
        cursor.execute(_WRITTEN)
        cursor.execute(_UPSERT)
        written = cursor.rowcount
        cursor.execute(_TRIM, params)
        removed += cursor.rowcount
        cursor.execute(_EXPIRE, params)
        removed += cursor.rowcount
        watermark = max(newest, row[0] if row else 0)
        cursor.execute(_WATERMARK_SET, {"revision": watermark})
    return SamplesUpdate(
        locked=True,
        rebuild=row is None,
        runs=runs,
        derived=derived,
        written=written,
        removed=removed,
        watermark=watermark,
    )


def segment_samples_rebuild(*, days: int) -> SamplesUpdate:
    """Derive every run of the days again (the watermark dropped, then one update)."""
    with transaction.atomic():
        SegmentSampleWatermark.objects.filter(id=1).delete()
        return segment_samples_update(days=days)
