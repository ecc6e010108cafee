"""Rebuild the hot state of every live run from PostgreSQL, the truth Redis caches.

Run by a worker when the epoch marker (``keys.HOT_STATE_EPOCH``) is missing (Redis came
back empty: ``realtime_engine.hot_state_watch``) and by ``manage.py hot_state rebuild``.
From the ``Run`` rows, under their row locks, it performs the lifecycle actions that
re-create each run's hot state (``runs.domain.lifecycle.rebuild``, the functions of
``runs.services.hot_state``): projections, resource claims, the tracking / in-progress
sets, vehicle metadata and the publication of cancelled trips; the dispatchers' trip
operations (``keys.TRIP_OPERATIONS``, ``runs.services.trip_operations``). From the stop events it
resumes the map-matcher's state and the observed times predictions keep
(``runs.domain.progression.resume``). No event is applied: no run changes state.

Safe beside live ingest and a second rebuilder:
- the runs are locked (``FOR NO KEY UPDATE``, the lifecycle service's lock) while their
  keys are written, so a transition waits for the rebuild and then writes over it, and
  never the other way round;
- what ingest writes (matcher state, stop time updates, ``runs:last_seen``) is only
  written where absent, so a value ingest wrote meanwhile wins;
- a Redis lock with a TTL lets one rebuild run at a time; the marker is set only if that
  lock is still held at the end (a Redis that lost its data during the rebuild lost the
  lock too, and the next check rebuilds again).
A handful of queries and one MULTI/EXEC per ``CHUNK`` runs, whatever the fleet size.

It lives in ``realtime_engine`` because it brings back what several apps write: the
runs' hot state (``runs.services.hot_state``), the matcher's state from this app's stop
events (``realtime_engine.progression``) and the trips' geometry (``schedule_engine``);
only the top layer may import all of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import redis
from django.db import connection, transaction
from django.db.models import Q
from prometheus_client import Counter, Gauge

from databus import keys
from databus.metrics import REGISTRY
from databus.redis import get_redis
from realtime_engine.models import StopEvent as StopEventRow
from realtime_engine.progression.matcher_store import KEY_TTL_S as MATCHER_KEY_TTL_S
from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.rebuild import REBUILD_ACTIONS, TRACKED_STATES, rebuild_actions
from runs.domain.lifecycle.states import RunState
from runs.domain.progression.resume import observed_updates, resumed_state, state_fields
from runs.domain.progression.stop_events import EventSource, StopCall
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.telemetry.rejection import TelemetryRejected
from runs.models import Run, RunLifecycleTransition
from runs.services import hot_state
from runs.services.trip_operations import trip_operations_sync
from schedule_engine.selectors import trip_geometry_get

logger = logging.getLogger(__name__)

CHUNK = 200  # runs per MULTI/EXEC: bounds how long one transaction blocks Redis
LOCK_TTL_S = 120  # a rebuilder that died frees the lock after this
# A transition holding a run row makes the rebuild wait at most this, then fail (and retry).
DB_LOCK_TIMEOUT = "10s"

REBUILDS = Counter(
    "databus_hot_state_rebuilds",
    "Hot-state rebuilds from PostgreSQL completed by this process",
    ["trigger"],
    registry=REGISTRY,
)
LAST_DURATION = Gauge(
    "databus_hot_state_rebuild_duration_seconds",
    "Duration of this process's last completed hot-state rebuild",
    registry=REGISTRY,
)
LAST_RUNS = Gauge(
    "databus_hot_state_rebuild_runs",
    "Runs whose hot state this process's last rebuild wrote",
    registry=REGISTRY,
)

# KEYS[1]: a hash; ARGV[1]: its TTL, then field/value pairs. Only an absent hash is
# written: whatever the producer wrote since Redis came back is newer than the stop events.
_HSET_IF_ABSENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
# KEYS: the lock, the marker; ARGV: our token, the marker's value.
_MARK_IF_LOCKED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""
_RELEASE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"


@dataclass(frozen=True)
class RunRebuild:
    """What the rebuild writes for one run."""

    run: Run
    actions: tuple[Action, ...]
    last_seen: bool  # give it a runs:last_seen score (if it has none)
    match_state: dict[str, str] | None = None  # run:{rid}:progression, if absent
    observed: dict[str, str] | None = None  # run:{rid}:stop_time_updates, if absent


@dataclass(frozen=True)
class RebuildReport:
    rebuilt: bool  # False: another rebuild held the lock, nothing was written
    runs_by_state: Mapping[str, int] = field(default_factory=dict)
    matcher_states: int = 0  # resumed matcher states planned (written where absent)
    duration_s: float = 0.0
    epoch: float | None = None

    @property
    def runs(self) -> int:
        return sum(self.runs_by_state.values())


def plan_run(
    run: Run,
    events: Sequence[StopCall],
    geometry: TripGeometry | None,
    entered_with: Iterable[Action] = (),
) -> RunRebuild:
    """The writes that re-create ``run``'s hot state: the actions for its state (entered with
    the transition actions ``entered_with``) and, for a tracked run, the matcher state and
    observed times resumed from its stop ``events`` on its trip's ``geometry``."""
    state = RunState(run.run_lifecycle_state)
    tracked = state in TRACKED_STATES
    match_state = observed = None
    if tracked and geometry is not None and events:
        resumed = resumed_state(geometry, events)
        match_state = state_fields(resumed) if resumed is not None else None
        updates = observed_updates(geometry, events)
        try:
            observed = updates_contract.validate_for_write(updates) if updates else None
        except TelemetryRejected as error:  # the next position publishes predictions anyway
            logger.warning("hot-state rebuild: run %s observed times not kept: %s", run.pk, error)
    return RunRebuild(run, rebuild_actions(state, entered_with), tracked, match_state, observed)


def _live_runs(now: float) -> list[Run]:
    """Every run with hot state, locked; cancelled ones whose cancellation may still be
    published (cancelled lately, or for a service day not yet over: the action itself
    computes until when, ``hot_state.cancellation_published_until``)."""
    claimed = [s.value for s in REBUILD_ACTIONS]
    cancelled_since = dt.datetime.fromtimestamp(now - hot_state.FINISHED_PROJECTION_TTL_S, dt.UTC)
    # A service day runs past midnight and counts in the agency's time zone: one day back.
    recent_days = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(days=1)
    cancelled = Q(run_lifecycle_state=RunState.CANCELLED.value) & (
        Q(last_event_at__gte=cancelled_since) | Q(start_date__gte=recent_days)
    )
    rows = Run.objects.select_for_update(of=("self",), no_key=True).select_related("vehicle")
    return list(rows.filter(Q(run_lifecycle_state__in=claimed) | cancelled).order_by("pk"))


def _cancellations(runs: Sequence[Run]) -> dict[str, list[Action]]:
    """The recorded actions of the transition that cancelled each cancelled run (one query)."""
    cancelled = [r.pk for r in runs if r.run_lifecycle_state == RunState.CANCELLED.value]
    if not cancelled:
        return {}
    rows = RunLifecycleTransition.objects.filter(
        run_id__in=cancelled, accepted=True, to_state=RunState.CANCELLED.value
    ).exclude(from_state=RunState.CANCELLED.value)
    return {
        str(run_id): [Action(a) for a in actions if a in Action.__members__.values()]
        for run_id, actions in rows.values_list("run_id", "actions")
    }


def _stop_events_by_run() -> dict[str, list[StopCall]]:
    """The stop events of every tracked run, in one query."""
    rows = StopEventRow.objects.filter(
        run__run_lifecycle_state__in=[s.value for s in TRACKED_STATES]
    ).values_list("run_id", "stop_sequence", "stop_id", "arrived_at", "departed_at", "source")
    by_run: dict[str, list[StopCall]] = defaultdict(list)
    for run_id, sequence, stop_id, arrived, departed, source in rows.iterator(chunk_size=5000):
        by_run[str(run_id)].append(
            StopCall(
                sequence,
                stop_id,
                arrived.timestamp(),
                None if departed is None else departed.timestamp(),
                EventSource(source),
            )
        )
    return by_run


def _write(client: redis.Redis, plans: Iterable[RunRebuild], *, now: float) -> None:
    hset_if_absent = client.register_script(_HSET_IF_ABSENT)
    plans = list(plans)
    for start in range(0, len(plans), CHUNK):
        pipe = client.pipeline(transaction=True)
        for plan in plans[start : start + CHUNK]:
            rid = str(plan.run.pk)
            for action in plan.actions:
                hot_state.ACTIONS[action](pipe, plan.run)
            # The new epoch already makes the next feed build a full one; marked as well,
            # as every lifecycle write is, so that hot state reads the same either way.
            hot_state.mark_for_feeds(pipe, plan.run)
            if plan.last_seen:
                # The flush silenced ingest's scores, not the vehicles: count silence from
                # now (a fair grace), and never replace a score ingest wrote since.
                pipe.zadd(keys.RUNS_LAST_SEEN, {rid: now}, nx=True)
            for key, fields in (
                (keys.run_progression(rid), plan.match_state),
                (keys.run_stop_time_updates(rid), plan.observed),
            ):
                if fields:
                    args = [MATCHER_KEY_TTL_S, *(x for pair in fields.items() for x in pair)]
                    hset_if_absent(keys=[key], args=args, client=pipe)
        pipe.execute()


def _already_published(client: redis.Redis, runs: Sequence[Run]) -> set[str]:
    """Cancelled runs still in runs:canceled: republishing would extend their window."""
    cancelled = [str(r.pk) for r in runs if r.run_lifecycle_state == RunState.CANCELLED.value]
    if not cancelled:
        return set()
    pipe = client.pipeline(transaction=False)
    for rid in cancelled:
        pipe.zscore(keys.RUNS_CANCELED, rid)
    return {rid for rid, score in zip(cancelled, pipe.execute(), strict=True) if score is not None}


def hot_state_rebuild(
    client: redis.Redis | None = None, *, trigger: str = "command", now: float | None = None
) -> RebuildReport:
    """Rebuild every live run's hot state, then set the epoch marker; idempotent."""
    client = client or get_redis()
    started = time.monotonic()
    now = time.time() if now is None else now
    token = uuid.uuid4().hex
    if not client.set(keys.HOT_STATE_REBUILD_LOCK, token, nx=True, ex=LOCK_TTL_S):
        return RebuildReport(rebuilt=False)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DB_LOCK_TIMEOUT])
            runs = _live_runs(now)
            events = _stop_events_by_run()
            cancellations = _cancellations(runs)
            published = _already_published(client, runs)
            plans = [
                plan_run(
                    run,
                    events.get(str(run.pk), ()),
                    trip_geometry_get(run.trip_id),
                    cancellations.get(str(run.pk), ()),
                )
                for run in runs
                if str(run.pk) not in published
            ]
            plans = [plan for plan in plans if plan.actions]
            _write(client, plans, now=now)
            trip_operations_sync(client, now=now)
            marked = client.register_script(_MARK_IF_LOCKED)(
                keys=[keys.HOT_STATE_REBUILD_LOCK, keys.HOT_STATE_EPOCH], args=[token, now]
            )
    except BaseException:
        client.eval(_RELEASE_IF_OURS, 1, keys.HOT_STATE_REBUILD_LOCK, token)
        raise
    duration = time.monotonic() - started
    by_state = dict(Tally(plan.run.run_lifecycle_state for plan in plans))
    report = RebuildReport(
        rebuilt=True,
        runs_by_state=by_state,
        matcher_states=sum(1 for p in plans if p.match_state),
        duration_s=duration,
        epoch=now if marked else None,
    )
    REBUILDS.labels(trigger=trigger).inc()
    LAST_DURATION.set(duration)
    LAST_RUNS.set(report.runs)
    logger.info(
        "hot state rebuilt from PostgreSQL (%s): %d runs %s, %d matcher states, %.3f s%s",
        trigger,
        report.runs,
        by_state,
        report.matcher_states,
        duration,
        "" if marked else " (Redis lost the lock meanwhile: marker not set, will rebuild again)",
    )
    return report


def hot_state_epoch(client: redis.Redis | None = None) -> float | None:
    """When hot state was last rebuilt (epoch s), or None: Redis lost it, or never had it."""
    value = (client or get_redis()).get(keys.HOT_STATE_EPOCH)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
