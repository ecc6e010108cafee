"""What the pipeline bench reads while it runs: CPU from /proc, latencies, Redis and PostgreSQL.

- ``tree_cpu_s(pid)``: CPU seconds (user + system) of a process and its live descendants,
  with what their exited children left in ``cutime``/``cstime``: a worker's threads are in
  its own figures, a PostgreSQL backend that exits is in its postmaster's.
- ``PublishTimes``: when each fix left the publisher, from its log of burst times.
- ``HotStateProbe``: a thread polling a sample of vehicles' position and stop-status
  timestamps (``vehicle:{vid}:position``, ``run:{rid}:vehicle_stop_status``), recording
  when each new fix first shows in Redis.
- ``FeedProbe``: a thread polling the served GTFS-RT feeds over HTTP (``If-None-Match``),
  parsed with gtfs-realtime-bindings, recording when each vehicle's new fix timestamp
  first shows in VehiclePositions and in TripUpdates.
- ``redis_used_memory``, ``table_footprint``: the sizes the scaling figures divide by N.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.pipeline.plan import SLICES

_TICK = os.sysconf("SC_CLK_TCK")
POLL_REDIS_S = 0.02
POLL_FEED_S = 0.5
# Every sampled timestamp in one server-side call: the probe's client CPU stays small (a
# pipeline of a few hundred HGETs costs milliseconds of redis-py per poll).
_READ_TIMESTAMPS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, ARGV[i]) or false end
return out
"""


# ----- CPU ------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / _TICK


def tree_cpu_s(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants (0 if it is gone)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    if root not in stats:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


def own_cpu_s() -> float:
    """CPU seconds of this process alone: its children are the stack it measures."""
    times = os.times()
    return times.user + times.system


def cpu_snapshot(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each named process tree; ``harness`` (this process) without its children."""
    return {
        name: own_cpu_s() if pid == os.getpid() else tree_cpu_s(pid)
        for name, pid in processes.items()
    }


# ----- publish times --------------------------------------------------------------------------


class PublishTimes:
    """When the burst carrying (vehicle index, fix second) was written, from the publisher's
    log (``second slice epoch`` lines), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset, self.sent = path, 0, {}

    def refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open() as log:
            log.seek(self._offset)
            text = log.read()
        complete = text[: text.rfind("\n") + 1]
        self._offset += len(complete.encode())
        for line in complete.splitlines():
            second, index, epoch = line.split()
            self.sent[int(second), int(index)] = float(epoch)

    def of(self, vehicle_index: int, second: int) -> float | None:
        return self.sent.get((second, vehicle_index % SLICES))


@dataclass
class Sightings:
    """(vehicle index, fix second, first seen at epoch), per what was watched."""

    by_kind: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, items: list[tuple[int, int, float]]) -> None:
        with self.lock:
            self.by_kind.setdefault(kind, []).extend(items)

    def of(self, kind: str) -> list[tuple[int, int, float]]:
        with self.lock:
            return list(self.by_kind.get(kind, ()))


class _Poller(threading.Thread):
    def __init__(self, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.interval_s, self.stopping = interval_s, threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


class HotStateProbe(_Poller):
    """Polls sampled vehicles' position and stop-status timestamps in one pipeline."""

    def __init__(self, client, sample: Sequence[tuple[int, str, str]], sightings: Sightings):
        from databus import keys
        from runs.domain.telemetry import position, vehicle_stop_status

        super().__init__(POLL_REDIS_S)
        self.client, self.sample, self.sightings = client, list(sample), sightings
        self._keys, self._fields = [], []
        for _, vehicle_id, run_id in self.sample:
            self._keys += [keys.vehicle_position(vehicle_id), keys.run_vehicle_stop_status(run_id)]
            self._fields += [position.TIMESTAMP, vehicle_stop_status.TIMESTAMP]
        self._script = client.register_script(_READ_TIMESTAMPS)
        self._last: list[int | None] = [None] * len(self._keys)

    def poll(self) -> None:
        replies = self._script(keys=self._keys, args=self._fields)
        now = time.time()
        seen: dict[str, list] = {"redis position": [], "redis stop status": []}
        for slot, reply in enumerate(replies):
            if reply is None:
                continue
            second = int(reply)
            if second != self._last[slot]:
                if self._last[slot] is not None:  # the first read is not a new fix
                    kind = "redis position" if slot % 2 == 0 else "redis stop status"
                    seen[kind].append((self.sample[slot // 2][0], second, now))
                self._last[slot] = second
        for kind, items in seen.items():
            self.sightings.add(kind, items)


class FeedProbe(_Poller):
    """Polls the served VehiclePositions and TripUpdates feeds."""

    PATHS = {
        "feed VehiclePositions": "/gtfs-rt/vehicle-positions.pb",
        "feed TripUpdates": "/gtfs-rt/trip-updates.pb",
    }

    def __init__(self, port: int, index_of: dict[str, int], sightings: Sightings) -> None:
        super().__init__(POLL_FEED_S)
        self.port, self.index_of, self.sightings = port, index_of, sightings
        self._etags: dict[str, str] = {}
        self._last: dict[tuple[str, str], int] = {}
        self.polls = self.builds_seen = 0

    def poll(self) -> None:
        from google.transit import gtfs_realtime_pb2

        for kind, path in self.PATHS.items():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                headers = {"If-None-Match": self._etags[kind]} if kind in self._etags else {}
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except OSError:
                continue
            finally:
                connection.close()
            self.polls += 1
            if response.status != 200:
                continue
            now = time.time()
            self.builds_seen += 1
            self._etags[kind] = response.getheader("ETag") or ""
            message = gtfs_realtime_pb2.FeedMessage()
            message.ParseFromString(body)
            items = []
            for entity in message.entity:
                if kind == "feed VehiclePositions":
                    vehicle_id, second = entity.vehicle.vehicle.id, entity.vehicle.timestamp
                else:
                    update = entity.trip_update
                    vehicle_id, second = update.vehicle.id, update.timestamp
                index = self.index_of.get(vehicle_id)
                if index is None or not second:
                    continue
                last = self._last.get((kind, vehicle_id))
                if second != last:
                    if last is not None:
                        items.append((index, second, now))
                    self._last[kind, vehicle_id] = second
            self.sightings.add(kind, items)


# ----- sizes ----------------------------------------------------------------------------------


def batch_totals(metrics_port: int) -> tuple[float, float]:
    """(messages, batches) flushed so far by the worker exporting on ``metrics_port``
    (``databus_ingest_batch_size``'s sum and count; zeros when it does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    connection = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    except OSError:
        return 0.0, 0.0
    finally:
        connection.close()
    totals = {}
    for family in text_string_to_metric_families(text):
        if family.name == "databus_ingest_batch_size":
            totals = {sample.name: sample.value for sample in family.samples}
    return (
        totals.get("databus_ingest_batch_size_sum", 0.0),
        totals.get("databus_ingest_batch_size_count", 0.0),
    )


def redis_used_memory(client) -> int:
    return int(client.info("memory")["used_memory"])


def table_footprint(table: str) -> tuple[int, int]:
    """(rows, bytes with indexes and TOAST) of a table, summed over its partitions if it has any."""
    from django.db import connection

    with connection.cursor() as cursor:
        # pg_partition_tree lists nothing for a table that is not partitioned.
        cursor.execute(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            " FROM pg_partition_tree(%s)), pg_total_relation_size(%s))",
            [table, table],
        )
        size = int(cursor.fetchone()[0])
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # a model's table name
        rows = int(cursor.fetchone()[0])
    return rows, size
