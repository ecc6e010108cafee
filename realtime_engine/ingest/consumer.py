"""The MQTT telemetry consumer: receive, batch, write hot state and history, then acknowledge.

One ``TelemetryConsumer`` owns one paho client (MQTT 5, QoS 1, persistent session,
``manual_ack``) and drives it from its own loop in one thread, so that it can
flush a batch when ``INGEST_BATCH_MAX`` messages are in hand, when the oldest has
waited ``INGEST_FLUSH_MS``, or as soon as the socket has nothing more to read.
Per batch: the plan, which refuses vehicles the registry does not know
(``vehicle_registry``), one Redis pipeline (``hot_state``), the batch observers (those three
are ``pipeline.TelemetryPipeline``, shared with the Streams ingress), then the
positions go to PostgreSQL in a thread of their own (``background_history``) while
the loop reads on. A message is acknowledged only once both writes succeeded.

If PostgreSQL fails, the history thread retries with capped backoff and the acks
wait; hot state keeps being written until ``receive_maximum`` messages are
unacknowledged (MQTT 5 Receive Maximum, ``INGEST_RECEIVE_MAXIMUM``, at most 65,535):
then the broker stops sending, queues the rest, and hot state freezes until the
history is written (docs/operations.md, "PostgreSQL outage"). The positions held
for those acks are what bounds the consumer's memory.

Sessions: the client id is stable per replica slot (``service.ingest_client_id``);
on a resumed session the filters the consumer no longer wants are unsubscribed
(MQTT cannot list a session's subscriptions: the consumer remembers what it
subscribed in Redis, ``keys.ingest_session_filters``). On stop it drains within
``drain_s``: it reads nothing more, writes and acknowledges the batch in hand,
and disconnects. With ``retire`` it ends a session for good instead (a replica
slot scaled away): it unsubscribes everything, ingests what the session still
holds, and disconnects with session expiry 0 once it has been quiet for
``RETIRE_QUIET_S``. Run by ``realtime_engine.mqtt`` (the worker bootstep), the tests
and the benchmark.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import redis
from django.db import connections
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from databus import keys
from realtime_engine.ingest import metrics, paho_speedups
from realtime_engine.ingest.background_history import BackgroundHistory, Submission
from realtime_engine.ingest.backoff import Backoff
from realtime_engine.ingest.decode import receive_message
from realtime_engine.ingest.history import HistoryWriter
from realtime_engine.ingest.ingress_config import IngressConfig
from realtime_engine.ingest.observers import BatchObserver
from realtime_engine.ingest.pipeline import TelemetryPipeline
from realtime_engine.ingest.topics import stale_filters, subscription_filters
from realtime_engine.ingest.vehicle_registry import (
    VehicleAdmission,
    VehicleRegistryUnavailable,
)

logger = logging.getLogger(__name__)

paho_speedups.install()

# Reconnect and store-retry delays double from the first (``backoff``) to their cap.
STORE_RETRY_CAP_S = 30.0
# Short: while the consumer is away the broker only queues for it, and a session the
# broker lost in a crash queues nothing until the consumer subscribes again.
RECONNECT_CAP_S = 2.0
# Wake at least this often with nothing to do, for keepalive and stop requests.
IDLE_WAIT_S = 1.0
# MQTT 5 Receive Maximum is a two-byte integer; paho and the broker track that many mids.
MAX_RECEIVE_MAXIMUM = 65_535
# Disconnect reason: another connection took this client id's session over.
SESSION_TAKEN_OVER = 142
# Retiring a session: it is empty once nothing has arrived for this long.
RETIRE_QUIET_S = 2.0


def flush_due(held: int, *, waited_s: float, drained: bool, config: ConsumerConfig) -> bool:
    """Whether the batch in hand (``held`` messages, the oldest ``waited_s`` old) is written now.

    Every batch costs about as much again in fixed round trips (claims, scripts, the
    stop-event upsert, the history statement) as a few dozen messages; a consumer that
    flushed each time the socket ran dry wrote small batches whenever its share of the
    traffic was small, as each of several workers on one shared subscription is."""
    if held == 0:
        return False
    if held >= config.batch_max or waited_s >= config.flush_ms / 1000:
        return True
    return drained and held >= config.flush_min


@dataclass(frozen=True)
class ConsumerConfig(IngressConfig):
    host: str
    port: int
    client_id: str
    topic_root: str
    shared_group: str = ""
    username: str | None = None
    password: str | None = None
    tls: bool = False
    session_expiry_s: int = 3600
    batch_max: int = 500
    flush_ms: int = 10
    # A drained socket flushes at once only a batch of at least this many; a smaller one
    # waits for more, up to ``flush_ms`` (``flush_due``).
    flush_min: int = 1
    keepalive_s: int = 30
    # Unacknowledged messages the broker may send (the ack window); see the module docstring.
    receive_maximum: int = MAX_RECEIVE_MAXIMUM
    # Ingest what this session holds, then end it (``manage.py ingest_session retire``).
    retire: bool = False

    @property
    def receive_window(self) -> int:
        """Receive Maximum sent on CONNECT: at least two batches, so that the broker keeps
        sending while one is written, and no more than MQTT allows."""
        return min(MAX_RECEIVE_MAXIMUM, max(self.receive_maximum, 2 * self.batch_max, 20))


class TelemetryConsumer:
    def __init__(
        self,
        config: ConsumerConfig,
        *,
        redis_client: redis.Redis,
        history: HistoryWriter,
        observers: Sequence[BatchObserver],
        vehicles: VehicleAdmission | None = None,
    ) -> None:
        self.config = config
        self.ready = threading.Event()  # set once subscribed; tests and the benchmark wait on it
        self._redis = redis_client
        self._history_writer = history
        self._pipeline = TelemetryPipeline(
            redis_client,
            vehicles=config.admission(vehicles),
            observers=observers,
            dlq_maxlen=config.dlq_maxlen,
        )
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._flush_s = config.flush_ms / 1000
        # (message, received_at, connection generation) received, not yet written to Redis.
        # Kept across a disconnect: written, but acknowledged only on their own connection.
        self._inbox: list[tuple[mqtt.MQTTMessage, float, int]] = []
        self._inbox_since = 0.0
        # Store retry: a failed hot-state write (or no vehicle registry yet) holds the inbox
        # until then.
        self._store_backoff = Backoff(STORE_RETRY_CAP_S)
        self._retry_at = 0.0
        self._store_failing = False
        # Acks of one connection are void on the next (the broker redelivers instead).
        self._generation = 0
        self._history: BackgroundHistory | None = None
        self._connected = False
        self._ever_connected = False
        self._drained = False
        # (UN)SUBSCRIBE mids not yet answered; ``ready`` once none is left.
        self._pending_requests: set[int] = set()
        self._unsubscribing: dict[int, list[str]] = {}
        self._last_message_at = 0.0
        self._retiring = False  # the session is empty: end it on the way out
        self._retired = False  # ended: DISCONNECT with session expiry 0 sent
        self._client = self._make_client()

    # ----- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``request_stop``; then drain (``_finish``) and return.

        Any exception escaping here is a bug or a misconfiguration: the worker
        bootstep turns it into a non-zero exit of the worker process."""
        connect_backoff = Backoff(RECONNECT_CAP_S)
        self._history = BackgroundHistory(self._history_writer, wake=self._wake)
        try:
            while not self._stop.is_set():
                if not self._connected and not self._connect():
                    self._stop.wait(connect_backoff.next())
                    continue
                connect_backoff.reset()
                self._service_network()
                self._maybe_flush(time.monotonic())
                self._ack_written()
                if self.config.retire and self._session_emptied(time.monotonic()):
                    self._retiring = True
                    self._stop.set()
            self._finish(time.monotonic() + self.config.drain_s)
        finally:
            # _finish already waited for the batch in hand: give up on the rest now (those
            # messages stay unacknowledged and the broker redelivers them).
            self._history.close(0)
            self._wake_r.close()
            self._wake_w.close()
            # This thread's database connections (vehicle registry, observers) end with it;
            # left open, PostgreSQL keeps their sessions until the objects are collected.
            connections.close_all()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def retired(self) -> bool:
        """True once a ``retire`` run has ended its session at the broker."""
        return self._retired

    def _session_emptied(self, now: float) -> bool:
        return (
            self.ready.is_set()
            and not self._inbox
            and not self._history.outstanding
            and now - self._last_message_at >= RETIRE_QUIET_S
        )

    def request_stop(self) -> None:
        """Reentrant, thread-safe, silent: the loop notices, drains and returns."""
        self._stop.set()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # ----- MQTT ------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=c.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if c.username:
            client.username_pw_set(c.username, c.password)
        if c.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect(self) -> bool:
        c = self.config
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = c.session_expiry_s
        properties.ReceiveMaximum = c.receive_window
        try:
            if self._ever_connected:
                metrics.RECONNECTS.inc()
            self._client.connect(
                c.host, c.port, keepalive=c.keepalive_s, clean_start=False, properties=properties
            )
        except OSError as error:
            logger.warning("MQTT broker %s:%s unreachable: %s", c.host, c.port, error)
            return False
        self._connected = True
        return True

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("MQTT broker refused the connection: %s", reason_code)
            return
        self._ever_connected = True
        root, group = self.config.topic_root, self.config.shared_group
        filters = subscription_filters(root, group)
        remembered = self._remember_filters(filters)
        # Subscribe first, then drop the leftovers: a moment of duplicates (harmless,
        # writes are idempotent) rather than a moment with no subscription at all.
        stale = stale_filters(filters, remembered, root) if flags.session_present else []
        if not flags.session_present and remembered - set(filters):
            self._forget_filters(sorted(remembered - set(filters)))  # a new session holds none
        self._pending_requests.clear()
        self._unsubscribing.clear()
        self._last_message_at = time.monotonic()
        if self.config.retire:
            # No new messages for this session; what it queued still arrives.
            stale, filters = sorted({*stale, *remembered, *filters}), []
        else:
            options = SubscribeOptions(qos=1)
            _, mid = client.subscribe([(topic_filter, options) for topic_filter in filters])
            self._pending_requests.add(mid)
        if stale:
            _, mid = client.unsubscribe(stale)
            self._pending_requests.add(mid)
            self._unsubscribing[mid] = stale
        logger.info(
            "MQTT ingest connected as %s (session present: %s), subscribing to %s%s",
            self.config.client_id,
            flags.session_present,
            filters,
            f", unsubscribing leftovers {stale}" if stale else "",
        )

    def _remember_filters(self, filters: list[str]) -> set[str]:
        """Add ``filters`` to what this client id has subscribed; return what it had before.

        Best effort: without Redis the consumer still drops the direct form when it
        shares (``stale_filters``), and subscribes as always."""
        key = keys.ingest_session_filters(self.config.client_id)
        try:
            pipe = self._redis.pipeline()
            pipe.smembers(key)
            pipe.sadd(key, *filters)
            remembered, _ = pipe.execute()
        except redis.RedisError as error:
            logger.warning("cannot read this session's earlier subscriptions: %s", error)
            return set()
        return set(remembered)

    def _forget_filters(self, filters: list[str]) -> None:
        with contextlib.suppress(redis.RedisError):
            self._redis.srem(keys.ingest_session_filters(self.config.client_id), *filters)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            logger.error("MQTT subscription refused: %s", failed)
            return
        logger.info("MQTT ingest subscribed")
        self._request_answered(mid)

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # "No subscription existed" (17) is a success here: nothing was left over.
        self._forget_filters(self._unsubscribing.pop(mid, []))
        self._request_answered(mid)

    def _request_answered(self, mid: int) -> None:
        self._pending_requests.discard(mid)
        if not self._pending_requests:
            self.ready.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        # Unacknowledged messages belong to the old connection: the broker redelivers them
        # to the persistent session. The inbox is still written (a broker that crashed
        # may have lost them), and every write is idempotent.
        self._connected = False
        self.ready.clear()
        self._generation += 1
        if self._stop.is_set():
            return
        if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            logger.error(
                "MQTT session %s taken over by another connection: two workers use one client "
                "id (give each replica its own INGEST_REPLICA_SLOT)",
                self.config.client_id,
            )
        else:
            logger.warning("MQTT ingest disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._last_message_at = time.monotonic()
        if not self._inbox:
            self._inbox_since = time.monotonic()
        self._inbox.append((message, time.time(), self._generation))

    def _service_network(self) -> None:
        sock = self._client.socket()
        if sock is None:
            self._connected = False
            return
        wants_write = self._client.want_write()
        try:
            readable, writable, _ = select.select(
                [sock, self._wake_r], [sock] if wants_write else [], [], self._wait_s()
            )
        except (OSError, ValueError):
            readable, writable = [], []
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        self._drained = False
        if self._wake_r in readable:
            self._drain_wake()
        if sock in readable or getattr(sock, "pending", lambda: 0)():
            rc = self._pump()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and (sock in writable or wants_write):
            rc = self._client.loop_write()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = self._client.loop_misc()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._client.socket() is None:
            # paho has closed the socket and called on_disconnect; reconnect from run().
            self._connected = False

    def _pump(self) -> MQTTErrorCode:
        """Read packets while they keep coming, up to a full batch (paho reads one per call)."""
        while len(self._inbox) < self.config.batch_max:
            before = len(self._inbox)
            rc = self._client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
            if len(self._inbox) == before:
                # Nothing more on the socket (or a control packet): flush what we have.
                self._drained = True
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _wait_s(self) -> float:
        now = time.monotonic()
        if self._inbox:
            deadline = max(self._inbox_since + self._flush_s, self._retry_at)
            return max(0.0, min(deadline - now, IDLE_WAIT_S))
        return IDLE_WAIT_S

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except OSError:
            pass

    # ----- batches ---------------------------------------------------------------------------

    def _maybe_flush(self, now: float) -> None:
        if now >= self._retry_at and flush_due(
            len(self._inbox),
            waited_s=now - self._inbox_since,
            drained=self._drained,
            config=self.config,
        ):
            self._flush()

    def _flush(self) -> None:
        started = time.perf_counter()
        messages, self._inbox = self._inbox, []
        root = self.config.topic_root
        try:
            written = self._pipeline.write(
                (
                    receive_message(message.topic, message.payload, received_at, root)
                    for message, received_at, _ in messages
                ),
                size=len(messages),
            )
        except redis.RedisError as error:
            self._inbox[:0] = messages
            self._store_failed("redis", "hot state not writable", error)
            return
        except VehicleRegistryUnavailable as error:
            self._inbox[:0] = messages
            self._store_failed("postgres", "no vehicle registry to judge telemetry by", error)
            return
        if self._store_failing:
            logger.info("ingest writing again")
        self._store_failing = False
        self._store_backoff.reset()
        generation = self._generation
        acks = [(m.mid, m.qos) for m, _, g in messages if g == generation]
        self._history.submit(Submission(generation, written.plan.history, acks))
        self._pipeline.publish(written)
        metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)

    def _ack_written(self) -> None:
        """Acknowledge the messages whose hot state and history are both safe."""
        for submission in self._history.completed():
            if submission.generation != self._generation or not self._connected:
                continue
            for mid, qos in submission.message_ids:
                self._client.ack(mid, qos)

    def _store_failed(self, store: str, what: str, error: Exception) -> None:
        metrics.STORE_FAILURES.labels(store=store).inc()
        self._retry_at = time.monotonic() + self._store_backoff.next()
        if not self._store_failing and not self._stop.is_set():
            logger.warning("%s (%s); holding acks, retrying", what, error)
        self._store_failing = True

    def _finish(self, deadline: float) -> None:
        """Drain before ``deadline``: read nothing more, write the batch in hand (retrying
        Redis), acknowledge what is durable, then disconnect. What is left unacknowledged
        the broker redelivers to this session (the replica slot's next worker)."""
        self._retry_at = 0.0
        while (self._inbox or self._history.outstanding) and time.monotonic() < deadline:
            if self._inbox and time.monotonic() >= self._retry_at:
                self._flush()
            self._ack_written()
            # Wake for the history thread (it writes to the wake socket) or a Redis retry.
            wake_at = min(deadline, self._retry_at) if self._inbox else deadline
            timeout = max(0.0, min(wake_at - time.monotonic(), IDLE_WAIT_S))
            with contextlib.suppress(OSError, ValueError):
                select.select([self._wake_r], [], [], timeout)
            self._drain_wake()
        self._ack_written()
        if self._connected:
            properties = None
            if self._retiring:
                properties = Properties(PacketTypes.DISCONNECT)
                properties.SessionExpiryInterval = 0  # the broker deletes the session now
            self._client.disconnect(properties=properties)
            self._write_out(deadline + IDLE_WAIT_S)
            if self._retiring:
                self._retired = True
                with contextlib.suppress(redis.RedisError):
                    self._redis.delete(keys.ingest_session_filters(self.config.client_id))
        self._connected = False

    def _write_out(self, deadline: float) -> None:
        """Send what paho has queued (the last acks, DISCONNECT) before ``deadline``."""
        while self._client.socket() is not None and time.monotonic() < deadline:
            if self._client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            sock = self._client.socket()
            if sock is None or not self._client.want_write():
                return
            with contextlib.suppress(OSError, ValueError):
                select.select([], [sock], [], max(0.0, deadline - time.monotonic()))
