"""The Redis Streams consumer: read a consumer group, run the shared pipeline, then XACK.

One ``StreamsConsumer`` is one member (``consumer_name``, unique per process) of the
consumer group ``group`` on every stream of ``stream_keys``. It creates the group where
missing (MKSTREAM, from id 0: ``group.py``) and drives one loop in one thread:

- XREADGROUP ``>`` with COUNT ``batch_max`` and BLOCK ``block_ms`` over all its streams;
- each entry → ``record.receive_record`` (the device map is the vehicle registry) → the
  ingress-independent ``pipeline.TelemetryPipeline``: plan, hot state and dead letters in
  one Redis pipeline, metrics, batch observers, as for MQTT;
- the batch's positions go to PostgreSQL in the history thread (``BackgroundHistory``);
- XACK: a dead-lettered entry at once (its letter is in Redis with the hot state), a
  position once its history row is written. So an entry is acknowledged only when hot
  state and history are both safe, and a poison entry never waits for anything.

PostgreSQL down: the history thread retries with capped backoff and holds the acks; the
loop keeps reading and writing hot state until ``unacked_max`` entries wait, then reads
nothing more until history is written. The waiting entries stay in the group's pending
list (in Redis, not lost with this process) and this consumer keeps their idle time low
(``claim.touch``) so that no other member takes them while this one only waits. They are
not re-read from the pending list (XREADGROUP ``0``) on every retry: each such read
counts a delivery, and an outage would then push healthy entries over
``max_deliveries``. A failed hot-state write (Redis) or a registry never loaded
(``VehicleRegistryUnavailable``) holds the batch in hand, unacknowledged, and retries it.

At start it re-reads its own pending entries once (a predecessor with the same
``STREAMS_CONSUMER_NAME``), then every ``claim_interval_s`` runs a claim pass
(``claim.py``): what another member left pending longer than ``claim_idle_ms`` is
processed here; an entry delivered more than ``max_deliveries`` times is dead-lettered
(``max_deliveries``) and acknowledged. Stop (``request_stop``, SIGTERM through the worker
bootstep): the read in progress ends within ``block_ms``, the batch in hand is written and
what is durable within ``drain_s`` is acknowledged; the rest stays pending for a claim.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.db import connections

from realtime_engine.ingest import metrics
from realtime_engine.ingest.background_history import BackgroundHistory, Submission
from realtime_engine.ingest.backoff import Backoff
from realtime_engine.ingest.decode import Received, Rejection
from realtime_engine.ingest.history import HistoryWriter
from realtime_engine.ingest.ingress_config import IngressConfig
from realtime_engine.ingest.observers import BatchObserver
from realtime_engine.ingest.pipeline import TelemetryPipeline
from realtime_engine.ingest.streams import claim, group
from realtime_engine.ingest.streams.entries import Entry, entries_of_read, ids_by_stream
from realtime_engine.ingest.streams.record import (
    PAYLOAD_FIELD,
    receive_record,
    stream_of_topic,
    stream_topic,
)
from realtime_engine.ingest.vehicle_registry import VehicleAdmission, VehicleRegistryUnavailable
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import RejectReason

logger = logging.getLogger(__name__)

STORE_RETRY_CAP_S = 30.0
# Wake at least this often with nothing to do (stop requests, timers).
IDLE_WAIT_S = 1.0
# While acks wait for the history thread, read with this short a BLOCK so that they go out
# soon after the write, not a whole block_ms later.
ACK_WAIT_MS = 20
# How often the group's lag and pending are exported as metrics.
LAG_REPORT_S = 5.0


@dataclass(frozen=True)
class StreamsConfig(IngressConfig):
    stream_keys: tuple[str, ...]
    group: str
    consumer_name: str
    batch_max: int = 2000  # STREAMS_BATCH_MAX's default
    block_ms: int = 1000
    claim_interval_s: float = 30.0
    claim_idle_ms: int = 60_000
    max_deliveries: int = 5
    # Entries read but not acknowledged (history not written yet) before reading stops.
    unacked_max: int = 50_000

    @property
    def stop_budget_s(self) -> float:
        """From ``request_stop`` to ``run`` returning, at most: the read in progress, then the
        drain."""
        return self.block_ms / 1000 + self.drain_s

    @property
    def touch_interval_s(self) -> float:
        """Held entries' idle time is reset this often: well within ``claim_idle_ms``."""
        return self.claim_idle_ms / 3000


class StreamsConsumer:
    def __init__(
        self,
        config: StreamsConfig,
        *,
        redis_client: redis.Redis,
        history: HistoryWriter,
        observers: Sequence[BatchObserver],
        vehicles: VehicleAdmission | None = None,
    ) -> None:
        self.config = config
        # Set once the groups exist and the start-up claim pass ran (tests, benchmarks).
        self.ready = threading.Event()
        self._redis = redis_client
        self._history_writer = history
        # The device map and the admission both (``vehicle_registry``): a tracker maps to the
        # vehicle its IMEI is registered to, else it is an unknown_device (unless allowed).
        self._registry = config.admission(vehicles)
        self._pipeline = TelemetryPipeline(
            redis_client,
            vehicles=self._registry,
            observers=observers,
            dlq_maxlen=config.dlq_maxlen,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()  # the history thread finished a write
        self._history: BackgroundHistory | None = None
        # Read, hot state not written yet (Redis or the registry failing): retried first.
        self._held: list[Entry] = []
        self._retry_at = 0.0
        self._store_backoff = Backoff(STORE_RETRY_CAP_S)
        self._store_failing = False
        self._redis_backoff = Backoff(STORE_RETRY_CAP_S)
        # (stream, id) handed to history, not yet written.
        self._in_history: set[tuple[str, str]] = set()
        # (stream, id) safe (dead-lettered, or history written), XACK not sent yet.
        self._to_ack: list[tuple[str, str]] = []
        self._started = False
        self._claim_at = self._touch_at = self._lag_at = 0.0

    # ----- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``request_stop``; then drain and return. An exception escaping here
        is a bug: the worker bootstep turns it into a non-zero exit of the worker."""
        self._history = BackgroundHistory(self._history_writer, wake=self._wake.set)
        try:
            while not self._stop.is_set():
                try:
                    self._step(time.monotonic())
                except redis.RedisError as error:
                    if "NOGROUP" in str(error):
                        self._group_lost(error)
                    else:
                        self._redis_failed(error)
                else:
                    self._redis_backoff.reset()
            self._finish(time.monotonic() + self.config.drain_s)
        finally:
            self._history.close(0)
            # This thread's database connections (registry, observers) end with it.
            connections.close_all()

    def claim_once(self) -> int:
        """One claim pass, its entries written and acknowledged (within ``drain_s``) before
        it returns: ``manage.py streams claim``. Returns how many entries were claimed."""
        self._history = BackgroundHistory(self._history_writer, wake=self._wake.set)
        try:
            for key in self.config.stream_keys:
                group.ensure_group(self._redis, key, self.config.group)
            claimed = self._claim_pass()
            self._finish(time.monotonic() + self.config.drain_s)
        finally:
            self._history.close(0)
        return claimed

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Reentrant, thread-safe, silent: the loop notices within ``block_ms`` and drains."""
        self._stop.set()
        self._wake.set()

    def _step(self, now: float) -> None:
        if not self._started:
            self._start()
            return
        self._ack()
        if (self._in_history or self._held) and now >= self._touch_at:
            self._touch_at = now + self.config.touch_interval_s
            claim.touch(self._redis, self.config.group, self.config.consumer_name, self._holding())
        if self._held:
            if now < self._retry_at:
                self._stop.wait(min(self._retry_at - now, IDLE_WAIT_S))
            else:
                self._process(self._held)
            return
        if now >= self._claim_at:
            self._claim_at = now + self.config.claim_interval_s
            self._claim_pass()
            self.ready.set()
            return
        if now >= self._lag_at:
            self._lag_at = now + LAG_REPORT_S
            self._report_lag()
        if len(self._in_history) >= self.config.unacked_max:
            # PostgreSQL is behind: read nothing more until history catches up.
            self._wake.wait(IDLE_WAIT_S)
            self._wake.clear()
            return
        block_ms = min(self.config.block_ms, ACK_WAIT_MS) if self._in_history else None
        entries = self._read({key: ">" for key in self.config.stream_keys}, block_ms)
        if entries:
            self._process(entries)

    def _start(self) -> None:
        """Create the groups, then process this consumer's own pending entries once."""
        c = self.config
        for key in c.stream_keys:
            if group.ensure_group(self._redis, key, c.group):
                logger.info("created consumer group %s on %s (from its first entry)", c.group, key)
        self._started = True
        logger.info(
            "Streams ingest reading %s as %s in group %s",
            list(c.stream_keys),
            c.consumer_name,
            c.group,
        )
        for key in c.stream_keys:
            last = "0"
            while not self._stop.is_set():
                page = self._read({key: last}, None)
                if not page:
                    break
                last = page[-1].entry_id
                self._process(
                    claim.with_deliveries(self._redis, key, c.group, c.consumer_name, page)
                )
                if self._held:
                    return  # retried by the loop; the rest of the pending list waits for a claim

    def _finish(self, deadline: float) -> None:
        """Write what is in hand and acknowledge what is durable, before ``deadline``."""
        try:
            if self._held:
                self._process(self._held)
            while self._history.outstanding and time.monotonic() < deadline:
                self._wake.wait(max(0.0, min(deadline - time.monotonic(), 0.1)))
                self._wake.clear()
                self._ack()
            self._ack()
        except redis.RedisError as error:
            logger.warning("Streams ingest stopped with entries unacknowledged: %s", error)

    # ----- reading and claiming --------------------------------------------------------------

    def _read(self, streams: dict[str, str], block_ms: int | None) -> list[Entry]:
        reading_new = ">" in streams.values()
        reply = self._redis.xreadgroup(
            self.config.group,
            self.config.consumer_name,
            streams,
            count=self.config.batch_max,
            block=(block_ms or self.config.block_ms) if reading_new else None,
        )
        return entries_of_read(reply)

    def _claim_pass(self) -> int:
        c = self.config
        claimed = 0
        for key in c.stream_keys:
            pages = claim.claim_pages(
                self._redis,
                key,
                c.group,
                c.consumer_name,
                min_idle_ms=c.claim_idle_ms,
                count=c.batch_max,
            )
            for page in pages:
                claimed += len(page)
                metrics.STREAM_CLAIMED.labels(stream=key).inc(len(page))
                # Ours already, waiting for history (touched too late): not a second time.
                fresh = [e for e in page if (key, e.entry_id) not in self._in_history]
                logger.info("claimed %d idle entries of %s", len(page), key)
                if fresh:
                    self._process(fresh)
                if self._held:
                    return claimed  # storing fails: retry this page before claiming more
        return claimed

    def _holding(self) -> dict[str, list[str]]:
        return ids_by_stream([*self._in_history, *((e.stream_key, e.entry_id) for e in self._held)])

    # ----- one batch -------------------------------------------------------------------------

    def _process(self, entries: list[Entry]) -> None:
        started = time.perf_counter()
        received_at = time.time()
        gone = [e for e in entries if not e.fields]  # deleted while pending: nothing to store
        present = [e for e in entries if e.fields]
        try:
            self._registry.refresh_if_due()
            received = [self._receive(entry, received_at) for entry in present]
            written = self._pipeline.write(received, size=len(present))
        except redis.RedisError as error:
            self._hold(entries, "redis", "hot state not writable", error)
            return
        except VehicleRegistryUnavailable as error:
            self._hold(entries, "postgres", "no vehicle registry to map devices by", error)
            return
        if self._store_failing:
            logger.info("Streams ingest writing again")
        self._held, self._store_failing = [], False
        self._store_backoff.reset()
        positions, letters = [], [(e.stream_key, e.entry_id) for e in gone]
        for entry, item in zip(present, received, strict=True):
            target = positions if isinstance(item.decoded, Position) else letters
            target.append((entry.stream_key, entry.entry_id))
        self._to_ack += letters
        self._in_history.update(positions)
        self._history.submit(Submission(0, written.plan.history, positions))
        self._pipeline.publish(written)
        self._count(present, written.plan.rejections)
        metrics.STREAM_BATCH_SECONDS.observe(time.perf_counter() - started)
        self._ack()

    def _receive(self, entry: Entry, received_at: float) -> Received:
        if claim.over_delivered(entry, self.config.max_deliveries):
            # Not decoded: what keeps failing its consumers may be the decoding itself.
            topic = stream_topic(entry.stream_key)
            payload = entry.fields.get(PAYLOAD_FIELD, "").encode()
            detail = (
                f"entry {entry.entry_id} delivered {entry.deliveries} times, more than "
                f"STREAMS_MAX_DELIVERIES={self.config.max_deliveries}"
            )
            return Received(
                topic,
                payload,
                Rejection(topic, payload, RejectReason.MAX_DELIVERIES, detail, received_at),
            )
        return receive_record(entry.stream_key, entry.fields, received_at, self._registry)

    def _hold(self, entries: list[Entry], store: str, what: str, error: Exception) -> None:
        self._held = entries
        metrics.STORE_FAILURES.labels(store=store).inc()
        self._retry_at = time.monotonic() + self._store_backoff.next()
        if not self._store_failing and not self._stop.is_set():
            logger.warning("%s (%s); holding acks, retrying", what, error)
        self._store_failing = True

    def _ack(self) -> None:
        """XACK what is safe: dead letters, and positions whose history is written."""
        for submission in self._history.completed():
            self._to_ack += submission.message_ids
            self._in_history.difference_update(submission.message_ids)
        if not self._to_ack:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, entry_ids in ids_by_stream(self._to_ack).items():
            pipe.xack(key, self.config.group, *entry_ids)
        pipe.execute()  # on a Redis error the acks stay listed and go with the next ones
        self._to_ack = []

    def _count(self, entries: list[Entry], rejections: Sequence[Rejection]) -> None:
        read = Counter(entry.stream_key for entry in entries)
        dead = Counter((stream_of_topic(r.topic) or "", r.reason.value) for r in rejections)
        dead_per_stream = Counter()
        for (key, reason), n in dead.items():
            metrics.STREAM_DEAD_LETTERED.labels(stream=key, reason=reason).inc(n)
            dead_per_stream[key] += n
        for key, n in read.items():
            metrics.STREAM_READ.labels(stream=key).inc(n)
            metrics.STREAM_ACCEPTED.labels(stream=key).inc(n - dead_per_stream[key])

    def _report_lag(self) -> None:
        for key in self.config.stream_keys:
            state = group.group_state(self._redis, key, self.config.group)
            if state is None:
                continue
            metrics.STREAM_GROUP_PENDING.labels(stream=key).set(state.pending)
            if state.lag is not None:
                metrics.STREAM_GROUP_LAG.labels(stream=key).set(state.lag)

    def _group_lost(self, error: redis.ResponseError) -> None:
        """The group (or its stream) is gone: Redis restarted empty, or an operator deleted
        it. Create it again and read on; acks owed to the old group are moot."""
        logger.warning("Streams ingest: consumer group gone (%s); creating it again", error)
        self._to_ack = []
        self._started = False

    def _redis_failed(self, error: redis.RedisError) -> None:
        metrics.STORE_FAILURES.labels(store="redis").inc()
        delay = self._redis_backoff.next()
        logger.warning("Streams ingest: Redis unavailable (%s); retrying in %.1f s", error, delay)
        self._stop.wait(delay)
