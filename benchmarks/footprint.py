"""`make bench-footprint`: what the hot state and the durable tables hold per vehicle and per run.

Two parts:

- ``redis_footprint(client)``: every key of one Redis database (SCAN), grouped by the
  ``databus.keys`` template it was built from, with its count and bytes (``MEMORY USAGE …
  SAMPLES 0``, pipelined). ``per_entity`` turns that into bytes per vehicle and per run.
  ``benchmarks.pipeline`` (bench-pipeline) imports both for its steady state. The templates
  are read from ``databus.keys`` itself (each key function called with its parameter's
  name as a placeholder), so a key added there is grouped without a change here.
- The standalone benchmark (``python -m benchmarks.footprint [--vehicles 1000 2000]
  [--seconds 60]``): on a private Redis and a scratch database (``<name>_bench_footprint``,
  dropped afterwards), a generated network (``benchmarks.generated_network``) with one
  trip per vehicle; for each fleet size in turn, the runs of the vehicles not yet on one
  are brought In Progress through the lifecycle service, then every vehicle reports a
  position each second (and its occupancy every ``OCCUPANCY_EVERY`` reports) for
  ``--seconds`` (less often if the pipeline cannot keep up: see ``FleetDriver.drive``), on
  its schedule, through the worker's ingest pipeline in this process
  (``TelemetryPipeline`` with the worker's batch observers: hot state, progression and
  predictions, stop events, detector dispatch; history with the ``HistoryWriter``), in
  batches of ``INGEST_BATCH_MAX``; then the feeds are built once as beat builds them.
  Printed per size: the per-template breakdown, bytes per vehicle and per run (and their
  ratio between the sizes: linear means equal), Redis ``INFO memory`` over the empty
  baseline, the Redis server's CPU per message (``/proc``), the append-only file's growth
  per message (turned on as production runs Redis, automatic rewrites off), the client CPU
  of bringing a run In Progress, and rows and bytes per run and per message of the durable
  tables (runs, their transitions, stop events, position history).

Lifecycle tasks the detectors enqueue wait in the Celery queue (no worker runs here); the
runs stay In Progress on their schedule, so none is due.
"""

from __future__ import annotations

import argparse
import inspect
import re
import resource
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from benchmarks.broker import cpu_seconds
from databus import keys

OTHER = "(not a databus key)"
SCAN_COUNT = 1_000
OCCUPANCY_EVERY = 30  # rounds between a vehicle's occupancy reports (and one at the start)
# Rounds of fixes at least: every run written more often than it keeps checkpoints (16).
MIN_ROUNDS = 20


class Usage(NamedTuple):
    """Keys of one template and the bytes Redis reports for them together."""

    keys: int
    bytes: int


class Scope(StrEnum):
    """What a key's count grows with: a vehicle, a run (its trip and operator claims too), or
    the deployment (sets of all runs, feeds, markers)."""

    VEHICLE = "vehicle"
    RUN = "run"
    SHARED = "shared"


# The parameter a key function is called with says what one key stands for.
_SCOPE_OF_PARAMETER = {
    "vehicle_id": Scope.VEHICLE,
    "run_id": Scope.RUN,
    "trip_id": Scope.RUN,
    "operator_id": Scope.RUN,
}
# Constants of databus.keys that are parts of keys (SCAN patterns, prefixes), not keys.
_NOT_KEYS = ("_PATTERN", "_PREFIX", "_SUFFIX")
_PLACEHOLDER = re.compile(r"\{\w+\}")


@dataclass(frozen=True)
class KeyTemplate:
    template: str  # "vehicle:{vehicle_id}:position", or a whole key such as "runs:tracking"
    scope: Scope
    pattern: re.Pattern[str]


def key_templates() -> tuple[KeyTemplate, ...]:
    """Every key ``databus.keys`` builds, most specific first (``run:{run_id}:trip`` before
    ``run:{run_id}``, which would match it too)."""
    found = []
    for name, value in vars(keys).items():
        if isinstance(value, str) and name.isupper() and not name.endswith(_NOT_KEYS):
            found.append(KeyTemplate(value, Scope.SHARED, re.compile(re.escape(value))))
        elif inspect.isfunction(value) and value.__module__ == keys.__name__:
            parameters = list(inspect.signature(value).parameters)
            if len(parameters) != 1:
                continue
            placeholder = f"{{{parameters[0]}}}"
            template = value(placeholder)
            if not isinstance(template, str) or placeholder not in template:
                continue  # not a key builder (e.g. the inverse of one)
            literal = [re.escape(part) for part in template.split(placeholder)]
            scope = _SCOPE_OF_PARAMETER.get(parameters[0], Scope.SHARED)
            found.append(KeyTemplate(template, scope, re.compile("(.+)".join(literal))))
    return tuple(sorted(found, key=lambda t: -len(_PLACEHOLDER.sub("", t.template))))


def template_of(key: str, templates: Iterable[KeyTemplate]) -> KeyTemplate | None:
    for template in templates:
        if template.pattern.fullmatch(key):
            return template
    return None


def _chunks(items: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def redis_footprint(client) -> dict[str, Usage]:
    """Keys and bytes of every key template in ``client``'s database (a key that matches
    none is counted under ``OTHER``). One pipelined ``MEMORY USAGE`` per key: SAMPLES 0
    measures every element of a hash or sorted set, not a sample."""
    templates = key_templates()
    totals: dict[str, list[int]] = {}
    for chunk in _chunks(client.scan_iter(count=SCAN_COUNT), SCAN_COUNT):
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(chunk, pipe.execute(), strict=True):
            if size is None:  # expired between SCAN and MEMORY USAGE
                continue
            template = template_of(key, templates)
            total = totals.setdefault(template.template if template else OTHER, [0, 0])
            total[0] += 1
            total[1] += size
    return {name: Usage(*total) for name, total in sorted(totals.items())}


def template_scopes() -> dict[str, Scope]:
    return {t.template: t.scope for t in key_templates()}


@dataclass(frozen=True)
class PerEntity:
    """``redis_footprint`` divided: what one more vehicle, and one more run, costs."""

    per_vehicle: float  # vehicle-scoped keys ÷ vehicles
    per_run: float  # run-scoped keys (its hashes, claims, matcher log) ÷ runs
    shared: int  # sets of all runs, feeds, markers: grows with the fleet, not per key
    shared_per_run: float  # the same ÷ runs (the sets hold one member per run)

    @property
    def per_tracked_vehicle(self) -> float:
        """A vehicle on a tracked run, its share of the shared keys included."""
        return self.per_vehicle + self.per_run + self.shared_per_run


def per_entity(footprint: dict[str, Usage], *, vehicles: int, runs: int) -> PerEntity:
    scopes = template_scopes()
    by_scope = dict.fromkeys(Scope, 0)
    for template, usage in footprint.items():
        by_scope[scopes.get(template, Scope.SHARED)] += usage.bytes
    return PerEntity(
        per_vehicle=by_scope[Scope.VEHICLE] / max(vehicles, 1),
        per_run=by_scope[Scope.RUN] / max(runs, 1),
        shared=by_scope[Scope.SHARED],
        shared_per_run=by_scope[Scope.SHARED] / max(runs, 1),
    )


def footprint_lines(footprint: dict[str, Usage], *, vehicles: int, runs: int) -> list[str]:
    """The per-template table and the per-entity figures, as printed."""
    scopes = template_scopes()
    lines = [f"    {'template':<44} {'scope':<8} {'keys':>8} {'bytes':>12} {'bytes/key':>9}"]
    for template, usage in sorted(footprint.items(), key=lambda item: -item[1].bytes):
        scope = scopes.get(template, Scope.SHARED)
        lines.append(
            f"    {template:<44} {scope:<8} {usage.keys:>8,} {usage.bytes:>12,} "
            f"{usage.bytes / usage.keys:>9,.0f}"
        )
    entity = per_entity(footprint, vehicles=vehicles, runs=runs)
    total = sum(u.bytes for u in footprint.values())
    lines.append(
        f"    total {total:,} bytes in {sum(u.keys for u in footprint.values()):,} keys: "
        f"per vehicle {entity.per_vehicle:,.0f} B, per run {entity.per_run:,.0f} B, shared "
        f"{entity.shared:,} B ({entity.shared_per_run:,.0f} B per run); a vehicle on a "
        f"tracked run {entity.per_tracked_vehicle:,.0f} B"
    )
    return lines


# ----- the standalone benchmark --------------------------------------------------------------


@dataclass(frozen=True)
class TableUse:
    rows: int
    bytes: int


def table_use() -> dict[str, TableUse]:
    """Rows and bytes (heap, indexes, TOAST; every partition of a partitioned table) of the
    tables the running system grows: runs, transitions, stop events, position history."""
    from django.db import connection

    from realtime_engine.models import PositionRecord, StopEvent
    from runs.models import Run, RunLifecycleTransition

    found = {}
    with connection.cursor() as cursor:
        for model in (Run, RunLifecycleTransition, StopEvent, PositionRecord):
            table = model._meta.db_table
            # A plain table has no partition tree: then its own size.
            cursor.execute(
                "SELECT coalesce(sum(pg_total_relation_size(relid)), "
                "pg_total_relation_size(%s::regclass)) FROM pg_partition_tree(%s::regclass)",
                [table, table],
            )
            size = cursor.fetchone()[0]
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            found[table] = TableUse(cursor.fetchone()[0], int(size))
    return found


class FleetDriver:
    """Every started vehicle's fixes, second by second, through the worker's ingest pipeline."""

    def __init__(self, network) -> None:
        from django.conf import settings

        from databus.redis import get_redis
        from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
        from realtime_engine.ingest.pipeline import TelemetryPipeline
        from realtime_engine.ingest.service import BATCH_OBSERVERS, consumer_config

        self._network = network
        self._root = settings.MQTT_TOPIC_ROOT
        self._batch_max = settings.INGEST_BATCH_MAX
        config = consumer_config(client_id="bench-footprint")
        self._pipeline = TelemetryPipeline(
            get_redis(),
            vehicles=config.admission(),
            observers=BATCH_OBSERVERS,
            dlq_maxlen=config.dlq_maxlen,
        )
        self._history = HistoryWriter(DatabaseTarget.from_django())
        self.messages = 0

    def drive(self, vehicles: list[str], seconds: int) -> int:
        """Rounds of one report from each of ``vehicles``, each at the second it is made (a
        fix is never from the past nor the future), at most one round a second, for
        ``seconds`` and at least ``MIN_ROUNDS`` rounds. When the pipeline cannot carry one
        round a second the vehicles report less often, as an overloaded worker would see
        them, and every run still gets enough writes to fill its checkpoints."""
        from benchmarks.generated_network import vehicle_fix
        from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
        from realtime_engine.simulation.messages import occupancy_payload, position_payload
        from realtime_engine.simulation.publishing import Load

        trips = [self._network.trip_of(v) for v in vehicles]
        end, rounds, last = time.time() + seconds, 0, 0
        while rounds < MIN_ROUNDS or time.time() < end:
            t = max(int(time.time()), last + 1)
            delay = t - time.time()
            if delay > 0:
                time.sleep(delay)
            messages = []
            for trip in trips:
                topic = vehicle_topic(self._root, trip.vehicle_id, TelemetryLeaf.POSITION)
                messages.append((topic, position_payload(vehicle_fix(trip, t))))
                if rounds % OCCUPANCY_EVERY == trip.index % OCCUPANCY_EVERY or not rounds:
                    load = Load(count=20 + trip.index % 40, percentage=30, timestamp=t)
                    leaf = vehicle_topic(self._root, trip.vehicle_id, TelemetryLeaf.OCCUPANCY)
                    messages.append((leaf, occupancy_payload(load)))
            for at in range(0, len(messages), self._batch_max):
                self._write(messages[at : at + self._batch_max])
            rounds, last = rounds + 1, t
        return rounds

    def _write(self, messages: list[tuple[str, bytes]]) -> None:
        from realtime_engine.ingest.decode import receive_message

        now = time.time()
        written = self._pipeline.write(
            (receive_message(topic, payload, now, self._root) for topic, payload in messages),
            size=len(messages),
        )
        self._history.write(written.plan.history)  # before the observers, as the consumer
        self._pipeline.publish(written)
        self.messages += len(messages)


MEMORY_FIELDS = (
    "used_memory",
    "used_memory_dataset",
    "used_memory_overhead",
    "used_memory_scripts",
)


def memory_info(client) -> dict[str, int]:
    """The server's own accounting (all databases): total, data, overhead, Lua scripts."""
    info = client.info("memory")
    return {name: int(info.get(name, 0)) for name in MEMORY_FIELDS}


def other_databases() -> dict[str, Usage]:
    """Keys and bytes of the Celery broker's and the channel layer's databases, which share
    the server with hot state (``used_memory`` counts them)."""
    from django.conf import settings

    from databus.redis import get_redis

    found = {}
    for name, url in (
        ("Celery broker", settings.CELERY_BROKER_URL),
        ("channel layer", settings.CHANNEL_REDIS_URL),
    ):
        usage = redis_footprint(get_redis(url))
        found[name] = Usage(
            sum(u.keys for u in usage.values()), sum(u.bytes for u in usage.values())
        )
    return found


def append_only_start(client) -> None:
    """Turn on the append-only file as production runs Redis (compose.prod.yml), without
    automatic rewrites, so that its growth is what the writes append."""
    client.config_set("auto-aof-rewrite-percentage", 0)
    client.config_set("appendonly", "yes")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
            return
        time.sleep(0.1)
    raise RuntimeError("the append-only file's first rewrite did not finish")


COMMANDS_SHOWN = 8


def command_times(client) -> list[tuple[str, int]]:
    """Each command's total µs since the last ``CONFIG RESETSTAT``, the costliest first."""
    stats = client.info("commandstats")
    times = [(name.removeprefix("cmdstat_"), int(v["usec"])) for name, v in stats.items()]
    return sorted(times, key=lambda item: -item[1])


def _cpu_with_children() -> float:
    """This process's CPU and that of its children waited for (the forked run starters)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def append_only_size(client) -> int:
    return int(client.info("persistence")["aof_current_size"])


def measure(options: argparse.Namespace) -> None:
    from benchmarks.generated_network import network_generate, network_import
    from benchmarks.ingest import django_setup, machine
    from benchmarks.scratch_db import drop_database, scratch_database

    django_setup()
    from databus.redis import get_redis

    sizes = sorted(options.vehicles)
    print(
        f"footprint benchmark: fleets of {', '.join(f'{n:,}' for n in sizes)} vehicles on "
        f"tracked runs, {options.seconds} s of 1 Hz fixes each; {machine()}; "
        f"load average {time_load()}"
    )
    database = scratch_database("footprint")
    client = get_redis()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-footprint-") as workdir:
            network = network_generate(sizes[-1], at=time.time())
            network_import(network, Path(workdir))
        append_only_start(client)
        baseline = Baseline(memory_info(client), table_use())
        driver = FleetDriver(network)
        results = []
        for started, size in zip([0, *sizes], sizes, strict=False):
            results.append(
                (
                    size,
                    measure_size(client, network, driver, started, size, baseline, options.seconds),
                )
            )
        if len(results) > 1:
            (n1, a), (n2, b) = results[0], results[-1]
            print(
                f"\nlinear? {n1:,} -> {n2:,} vehicles: per tracked vehicle "
                f"{a.per_tracked_vehicle:,.0f} -> {b.per_tracked_vehicle:,.0f} B "
                f"(ratio {b.per_tracked_vehicle / a.per_tracked_vehicle:.3f})"
            )
        if options.history_rows:
            segment_history_cost(options.history_rows)
    finally:
        drop_database(database)


# Synthetic stop events sit at sequences above any trip's, so they never meet a real one.
_SYNTHETIC_EVENTS = """
INSERT INTO {table}
    (run_id, trip_id, service_date, stop_sequence, stop_id, arrived_at, departed_at, source,
     revision)
SELECT r.id, r.trip_id, r.start_date, 1000 + n, r.trip_id || '-' || (n %% 30),
       now() - (random() * %s) * interval '1 day', NULL, 'observed', 1
FROM {runs} AS r CROSS JOIN generate_series(1, %s) AS n
"""


def segment_history_cost(rows: int) -> None:
    """Stop events as a month of service leaves them, ``rows`` of them (spread over the
    runs here, within the prediction history's days); then the sample table derived from
    them (``segment_samples_update`` with no watermark: the one-time rebuild, timed), and
    the load every ingest worker runs in its background thread each
    ``PREDICTION_HISTORY_REFRESH_S`` (``segment_history_load``, bounded by the network:
    timed); and the stop events' bytes per row at that size."""
    from django.conf import settings
    from django.db import connection

    from realtime_engine.models import StopEvent
    from realtime_engine.segment_history import segment_history_load
    from realtime_engine.segment_samples import segment_samples_rebuild
    from runs.models import Run

    days = settings.PREDICTION_HISTORY_DAYS
    table = StopEvent._meta.db_table
    runs = Run.objects.count()
    before = table_use()[table]
    with connection.cursor() as cursor:
        sql = _SYNTHETIC_EVENTS.format(table=table, runs=Run._meta.db_table)
        cursor.execute(sql, [days - 1, -(-rows // runs)])
        cursor.execute(f"ANALYZE {table}")
    after = table_use()[table]
    added = after.rows - before.rows
    wall = time.monotonic()
    derived = segment_samples_rebuild(days=days)
    rebuild_s = time.monotonic() - wall
    cpu, wall = time.process_time(), time.monotonic()
    segments = segment_history_load(days)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    print(
        f"\nstop events: {added:,} more rows (a month's spread over {runs:,} runs): "
        f"{(after.bytes - before.bytes) / added:,.0f} bytes per row; the sample table's "
        f"rebuild from {after.rows:,} rows ({derived.written:,} samples) took {rebuild_s:.1f} s; "
        f"the prediction history's load (segment_history_load, {days} days) read "
        f"{len(segments):,} segments in {wall:.2f} s ({cpu:.2f} s of it in this process)"
    )


@dataclass(frozen=True)
class Baseline:
    memory: dict[str, int]
    tables: dict[str, TableUse]


def measure_size(
    client, network, driver: FleetDriver, started: int, size: int, baseline: Baseline, seconds: int
) -> PerEntity:
    """Start runs ``started``..``size``, drive all ``size`` vehicles, build the feeds, print."""
    from benchmarks.generated_network import runs_start
    from schedule_engine.feeds.tasks import feeds_publish

    begun, lifecycle_cpu = time.monotonic(), _cpu_with_children()
    runs_start(network, trips=network.trips[started:size])
    ramp_s, lifecycle_cpu = time.monotonic() - begun, _cpu_with_children() - lifecycle_cpu
    redis_pid = int(client.info("server")["process_id"])
    messages, aof, cpu = driver.messages, append_only_size(client), time.process_time()
    wall, redis_cpu = time.monotonic(), cpu_seconds(redis_pid)
    client.config_resetstat()  # commandstats from here: where the server's time goes
    rounds = driver.drive(network.vehicle_ids[:size], seconds)
    messages = driver.messages - messages
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    redis_cpu = cpu_seconds(redis_pid) - redis_cpu
    aof = append_only_size(client) - aof
    commands = command_times(client)
    feeds_publish(client)
    footprint = redis_footprint(client)
    tables = table_use()
    memory = {k: v - baseline.memory[k] for k, v in memory_info(client).items()}
    begun_runs = size - started
    print(
        f"\n{size:,} vehicles on {size:,} runs In Progress ({begun_runs:,} runs started in "
        f"{ramp_s:.0f} s, {1e3 * lifecycle_cpu / begun_runs:,.0f} ms of client CPU each); "
        f"driven: {rounds} rounds, {messages:,} messages in {wall:.0f} s "
        f"({messages / wall:,.0f}/s, "
        f"{1e6 * cpu / messages:,.0f} µs CPU each in this process, making the fixes included); "
        f"load average {time_load()}"
    )
    for line in footprint_lines(footprint, vehicles=size, runs=size):
        print(line)
    print(
        "    Redis INFO memory over the empty baseline, per vehicle: "
        + ", ".join(f"{k} {v / size:,.0f} B" for k, v in memory.items())
    )
    print(
        f"    Redis server CPU while driving: {1e6 * redis_cpu / messages:,.1f} µs per message; "
        f"append-only file: {aof / messages:,.0f} bytes per message"
    )
    print(
        "    of which (commandstats, µs per message; scripts include their commands): "
        + ", ".join(f"{name} {usec / messages:,.1f}" for name, usec in commands[:COMMANDS_SHOWN])
    )
    for name, usage in other_databases().items():
        print(f"    {name} database: {usage.keys:,} keys, {usage.bytes:,} bytes")
    print(f"    {'table':<36} {'rows':>9} {'bytes':>12} {'rows/run':>9} {'bytes/row':>9}")
    for table, use in tables.items():
        before = baseline.tables[table]
        rows, size_bytes = use.rows - before.rows, use.bytes - before.bytes
        print(
            f"    {table:<36} {rows:>9,} {size_bytes:>12,} {rows / size:>9.2f} "
            f"{size_bytes / max(rows, 1):>9,.0f}"
        )
    return per_entity(footprint, vehicles=size, runs=size)


def time_load() -> str:
    import os

    return f"{os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.footprint", description=__doc__)
    parser.add_argument("--vehicles", type=int, nargs="+", default=[1_000, 2_000])
    parser.add_argument("--seconds", type=int, default=60, help="of 1 Hz fixes per fleet size")
    parser.add_argument(
        "--history-rows", type=int, default=1_000_000, help="synthetic stop events (0: none)"
    )
    options = parser.parse_args(argv)
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        measure(options)


if __name__ == "__main__":
    main()
