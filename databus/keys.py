"""Every Redis key name databus uses, and nothing else.

This is the only module that spells a key; all readers and writers call these
functions (see the hot-state table in ../shared/DESIGN.md). Keys are plain
strings so that they can be passed into pipelines and Lua scripts unchanged.
Imports nothing.
"""

from __future__ import annotations

# Sets and sorted sets shared by the whole fleet.
RUNS_TRACKING = "runs:tracking"
RUNS_IN_PROGRESS = "runs:in_progress"
RUNS_LAST_SEEN = "runs:last_seen"
# Sorted set: cancelled runs still published as CANCELED trips, score = epoch s after
# which the cancellation is no longer relevant (e.g. end of its service day).
RUNS_CANCELED = "runs:canceled"
TELEMETRY_DLQ = "telemetry:dlq"
# Stream: AVL gateways append one entry per fix (field ``payload``, JSON); the default of
# ``STREAMS_KEYS``, read by the Streams ingress's consumer group (realtime_engine.ingest.streams).
TELEMETRY_AVL_STREAM = "telemetry:avl"
# Sorted set: live WebSocket groups someone watches, score = last refresh epoch s
# (realtime_engine.ws: consumers refresh, the position fan-out reads).
LIVE_ACTIVE_GROUPS = "live:active_groups"


def live_ws_ticket(ticket_digest: str) -> str:
    """String with a TTL: the user id a one-time ``/ws/live/`` ticket stands for, under the
    ticket's SHA-256 (``POST /api/ws-ticket/`` writes it, the WebSocket takes it with GETDEL)."""
    return f"live:ws_ticket:{ticket_digest}"


def ingest_session_filters(client_id: str) -> str:
    """Set: the MQTT filters an ingest client id has subscribed, so that a resumed session's
    leftovers can be unsubscribed (MQTT cannot list them). Written by the MQTT consumer."""
    return f"ingest:session:{client_id}:filters"


# String: when hot state was last rebuilt from PostgreSQL (epoch s). Written only by a
# completed rebuild, so its absence means Redis lost its data (or was never rebuilt) and
# workers rebuild (realtime_engine.hot_state_rebuild, realtime_engine.hot_state_watch).
HOT_STATE_EPOCH = "hot_state:epoch"
# String with a TTL: the token of the rebuild under way, so workers rebuild one at a time.
HOT_STATE_REBUILD_LOCK = "hot_state:rebuild_lock"


def vehicle_position(vehicle_id: str) -> str:
    """Hash: latest position of a vehicle (MQTT consumer)."""
    return f"vehicle:{vehicle_id}:position"


VEHICLE_POSITION_PATTERN = "vehicle:*:position"  # SCAN match for every vehicle_position key
# Set: the vehicles with a vehicle_position hash. The ingest adds each batch's vehicles in
# the round trip it already makes; a reader that finds the set absent (Redis lost it, or a
# position was stored before it existed) fills it from a SCAN of the position keys
# (schedule_engine.hot_state_read). A member whose hash is gone reads as not located.
VEHICLES_LOCATED = "vehicles:located"


def vehicle_id_of_position_key(key: str) -> str:
    """The vehicle id inside a ``vehicle_position`` key (inverse of that function)."""
    return key[len("vehicle:") : -len(":position")]


def vehicle_occupancy(vehicle_id: str) -> str:
    """Hash: latest occupancy of a vehicle (MQTT consumer)."""
    return f"vehicle:{vehicle_id}:occupancy"


def vehicle_metadata(vehicle_id: str) -> str:
    """Hash: id, label, license_plate, wheelchair_accessible (lifecycle actions)."""
    return f"vehicle:{vehicle_id}:metadata"


def vehicle_current_run(vehicle_id: str) -> str:
    """String: the run id that has claimed this vehicle."""
    return f"vehicle:{vehicle_id}:current_run"


VEHICLE_CURRENT_RUN_PATTERN = "vehicle:*:current_run"  # SCAN match for every claim above


def trip_current_run(trip_id: str) -> str:
    """String: the run id that has claimed this trip."""
    return f"trip:{trip_id}:current_run"


def operator_current_run(operator_id: str) -> str:
    """String: the run id that has claimed this operator."""
    return f"operator:{operator_id}:current_run"


# Server-side scripts that reach a run from a claim (``vehicle:{vid}:current_run``) build
# its key as RUN_KEY_PREFIX .. run_id; this is that prefix, spelled once.
RUN_KEY_PREFIX = "run:"


def run(run_id: str) -> str:
    """Hash: flat run projection including run_lifecycle_state."""
    return f"{RUN_KEY_PREFIX}{run_id}"


def run_pending_event(run_id: str) -> str:
    """String (short TTL): the detected event already enqueued for this run (dispatcher)."""
    return f"run:{run_id}:pending_event"


def run_trip(run_id: str) -> str:
    """Hash: GTFS-RT TripDescriptor projection of the run."""
    return f"run:{run_id}:trip"


def run_vehicle_stop_status(run_id: str) -> str:
    """Hash: current_status, current_stop_sequence, stop_id… (progression producer)."""
    return f"run:{run_id}:vehicle_stop_status"


def run_congestion_level(run_id: str) -> str:
    """Hash: congestion level of the run (progression producer)."""
    return f"run:{run_id}:congestion_level"


def run_stop_time_updates(run_id: str) -> str:
    """Predictions for the run's remaining stops (prediction producer)."""
    return f"run:{run_id}:stop_time_updates"


# Scripts that follow a claim to its run build this key as prefix .. run_id .. suffix.
RUN_PROGRESSION_SUFFIX = ":progression"


def run_progression(run_id: str) -> str:
    """Hash: the map-matcher's state for the run between positions."""
    return f"{RUN_KEY_PREFIX}{run_id}{RUN_PROGRESSION_SUFFIX}"


def run_progression_fixes(run_id: str) -> str:
    """Sorted set (score: fix timestamp): the fixes matched since the oldest checkpoint."""
    return f"{RUN_KEY_PREFIX}{run_id}{RUN_PROGRESSION_SUFFIX}:fixes"


def run_progression_checkpoints(run_id: str) -> str:
    """Sorted set (score: matched_at): recent matcher states, to re-match a late fix from."""
    return f"{RUN_KEY_PREFIX}{run_id}{RUN_PROGRESSION_SUFFIX}:checkpoints"


def feed(name: str) -> str:
    """Hash: the last built GTFS-RT feed bytes and its header timestamp."""
    return f"feed:{name}"


# Sets: the vehicles and runs whose feed entities may have changed since the last feed
# build took them (SPOP). Every hot-state writer adds to them in the round trip it already
# makes; the feed build (schedule_engine.feeds.changes) re-encodes only what they name.
FEED_DIRTY_VEHICLES = "feed_dirty:vehicles"
FEED_DIRTY_RUNS = "feed_dirty:runs"
# Sets: the marks a build took, kept until its caches are written (a build that dies leaves
# them to the next one).
FEED_TAKEN_VEHICLES = "feed_taken:vehicles"
FEED_TAKEN_RUNS = "feed_taken:runs"


def feed_entities(name: str) -> str:
    """Hash: every entity the feed ``name`` publishes, by entity id, each with what decides
    whether it is still published (schedule_engine.feeds.entity_cache)."""
    return f"feed_cache:{name}"


def feed_entities_staged(name: str, build: str) -> str:
    """Hash with a TTL: the entities the processes of one split full build (``build``, a
    token) wrote for the feed ``name``; the build's cache write renames it to
    ``feed_entities(name)`` (schedule_engine.feeds.entity_cache)."""
    return f"feed_cache:{name}:staged:{build}"


# Hash: what the entity caches above were last fully rebuilt from (hot-state epoch, GTFS
# version) and when; written with them.
FEED_CACHE_META = "feed_cache_meta"
# String with a TTL: the token of the feed build under way, so that builds run one at a time.
FEED_BUILD_LOCK = "feed_build:lock"
# Hash "<feed>|<reason>" → entities (or parts) readers of the hot state left out, counted
# by whichever process read (a feed build in a pool child, a WebSocket snapshot, the API)
# and exported at scrape time (schedule_engine.feeds.metrics).
FEED_SKIPPED_COUNTS = "feed_skipped_counts"

# Hash: every dispatcher trip operation still published (a trip cancelled ahead of any run,
# a trip added to the schedule, stops skipped on a trip), field = operation id, value = one
# record (contract: runs.domain.projections.trip_operations). A cache of the
# ``runs.TripOperation`` rows: written by ``runs.services.trip_operations`` and re-written
# whole from PostgreSQL by the hot-state rebuild; read by every TripUpdates build.
TRIP_OPERATIONS = "trip_operations"

# String: the last stale-run scan's record, replaced by each scan (contract:
# realtime_engine.scan_record; written by realtime_engine.scans, read by backend.ops).
STALE_RUN_SCAN_LAST = "stale_run_scan:last"

# Periodic work (databus.task_records is their contract). Hash, no TTL: the scheduling
# beat's last tick (its time, identity, interval), so that a dead beat shows as an old one.
BEAT_HEARTBEAT = "beat:heartbeat"
# String with a TTL: the identity of the one beat that schedules (databus.beat_scheduler);
# renewed every tick, taken over by another beat once its holder stops renewing it.
BEAT_LOCK = "beat:lock"


def task_record(task_name: str) -> str:
    """Hash: a periodic task's last run, last success, duration, counts (Celery signals)."""
    return f"task_record:{task_name}"


def task_failures(task_name: str) -> str:
    """List, newest first, capped: a periodic task's recent failures (JSON each)."""
    return f"task_failures:{task_name}"


def task_metrics(worker_node: str) -> str:
    """Hash: one worker node's task counters and duration buckets, written by its pool's
    processes, exported by its main process (databus.task_metrics)."""
    return f"task_metrics:{worker_node}"
