"""The progression batch observer: match the batch's fixes of tracked runs and publish them.

Called by the MQTT consumer for every batch after its hot state is safe, before the
lifecycle dispatcher (``realtime_engine.ingest.service.BATCH_OBSERVERS``), so the
completion detector judges the progress this batch matched. Per batch, whatever its
size, it composes the package's shells:
- ``matching`` reads the batch's tracked runs and folds their fixes through the matcher;
- ``matcher_write`` writes each run's state and published values in one compare-and-set
  script; a run whose state another worker changed meanwhile is read and matched again
  (at most ``MAX_ATTEMPTS`` times);
- ``stop_events`` upserts the stop events of the runs written, tagged with the new
  revision (a later revision's row is never replaced by an older one). If it fails, the
  runs are marked to replay those fixes, so the next fix produces the events again;
- the runs whose stop status changed are fanned out live (``ws.fanout``).
So a run's matcher state, stop events and predictions do not depend on how the broker
split its vehicle's fixes between workers, nor on how they were batched (docs/
architecture.md, "Several workers, one run").
"""

from __future__ import annotations

import logging

from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.progression.matcher_write import hand_off, mark_replay, write_hot_state
from realtime_engine.progression.matching import (
    CAS_RETRIES,
    FIXES_DROPPED,
    REWINDS,
    RunProgressed,
    claimed_runs,
    fixes_by_vehicle,
    match_runs,
    runs_to_match,
)
from realtime_engine.progression.stop_events import RunStopEvent, stop_events_write
from realtime_engine.progression.stop_status import stop_status_changes
from realtime_engine.segment_history import segment_history_get
from realtime_engine.ws.fanout import publish_stop_statuses
from runs.services.thresholds import progression_config_get

logger = logging.getLogger(__name__)

# A batch reads, matches and writes a contended run again at most this many times; after
# HAND_OFF_AFTER losses its fixes are logged for the next writer, so none is lost.
MAX_ATTEMPTS = 8
HAND_OFF_AFTER = 3


def observe_progression(batch: AcceptedBatch, redis_client) -> None:
    """Batch observer: match the batch's fixes of tracked runs and publish the results."""
    fixes = fixes_by_vehicle(batch)
    if not fixes:
        return
    if batch.claims is None:
        pending = claimed_runs(list(fixes), redis_client)
    else:  # read with the hot-state write: no round trip of its own
        pending = [(vid, batch.claims[vid]) for vid in fixes if vid in batch.claims]
    config = progression_config_get()
    history = segment_history_get()
    written: list[tuple[RunProgressed, int]] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if not pending:
            break
        progressed = match_runs(runs_to_match(pending, fixes, redis_client), config)
        if not progressed:
            break
        won, lost = write_hot_state(redis_client, progressed, history)
        written.extend(won)
        for item, _ in won:
            FIXES_DROPPED.inc(item.plan.dropped)
            if item.plan.rewound:
                REWINDS.inc()
        # Lost the race to another worker: re-read its state (and the fixes it logged) and
        # match again; this batch's fixes are not dropped for losing.
        pending = [(item.run.vehicle_id, item.run.run_id) for item in lost]
        if lost:
            CAS_RETRIES.inc(len(lost))
            if attempt == HAND_OFF_AFTER:
                # Starved by a faster writer of the same runs: log the fixes for whichever
                # write comes next (this worker's next attempt included).
                hand_off(redis_client, {rid: fixes[vid] for vid, rid in pending})
    else:
        if pending:
            # Handed off (``HAND_OFF_AFTER``) and still contended: another worker's next
            # write of these runs folds their fixes in.
            logger.info(
                "progression: %d runs contended past %d attempts, fixes handed off",
                len(pending),
                MAX_ATTEMPTS,
            )
    if not written:
        return
    try:
        stop_events_write(
            RunStopEvent(
                item.run.run_id, item.run.trip.trip_id, item.run.trip.service_date, event, revision
            )
            for item, revision in written
            for event in item.events
        )
    except Exception:
        mark_replay(redis_client, [(item, r) for item, r in written if item.events])
        raise
    publish_stop_statuses(
        (item.run.run_id, status, item.run.vehicle_id)
        for item, status in stop_status_changes([item for item, _ in written], config)
    )
