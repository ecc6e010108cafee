"""Publish live updates to the channel layer: positions per tick, run states, stop and feed status.

One ``LivePublisher`` per process owns a background thread with its own event loop
(so channels-redis keeps one connection pool) and sends from there; callers never
wait on the channel layer unless they ask to.

Positions: the ingest consumer calls ``observe_batch`` after each batch is safely
written. That only merges the batch into a per-vehicle "latest" map (cheap, under a
lock), so ingest is not slowed. The publisher flushes the map at most once every
``LIVE_PUBLISH_INTERVAL_MS`` (at once after a quiet period): one Redis pipeline reads
the vehicles' current runs and the set of watched groups, then one ``position``
message per watched group (``all``, ``vehicle:…``, ``run:…``, ``route:…``) is
encoded once and sent with ``group_send``. Routes of runs are cached (a run's route
never changes); a run seen for the first time costs one more pipeline.

``publish_run_state`` (lifecycle transitions), ``publish_stop_statuses`` (progression:
a batch's, to watched groups only, as positions), ``publish_feed_status`` (feed
builders) and ``publish_alert`` (service alerts) are for sync callers.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future

import msgspec
from channels.layers import get_channel_layer
from django.conf import settings

from databus import keys
from databus.notify import AlertChanged
from databus.redis import get_redis
from realtime_engine.ws import groups
from realtime_engine.ws.active_groups import active_groups_queue
from realtime_engine.ws.alerts import alert_view
from realtime_engine.ws.groups import Topic
from realtime_engine.ws.messages import (
    AlertMessage,
    FeedStatusMessage,
    PositionMessage,
    RunStateMessage,
    ServerMessage,
    StopStatusMessage,
    StopStatusView,
    VehicleUpdate,
    encode,
    vehicle_update,
)
from runs.domain.projections import run as run_projection
from runs.domain.telemetry.occupancy import Occupancy
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.vehicle_stop_status import VehicleStopStatus

logger = logging.getLogger(__name__)

LIVE_EVENT = "live.message"  # what web processes' hubs (``hub``) receive
ROUTE_CACHE_MAX = 20_000
WAIT_TIMEOUT_S = 5.0


def live_event(group: str, text: str) -> dict[str, str]:
    """The channel-layer event carrying one already-encoded server message for ``group``."""
    return {"type": LIVE_EVENT, "group": group, "text": text}


def _newer(current, value) -> bool:
    return current is None or value.timestamp >= current.timestamp


def plan_position_messages(
    updates: list[VehicleUpdate], watched: set[str], sent_at: float
) -> dict[str, str]:
    """Group name → encoded ``position`` message, for the watched groups only. Pure."""
    by_group: dict[str, tuple[Topic, list[VehicleUpdate]]] = {}
    if groups.ALL_GROUP in watched:
        by_group[groups.ALL_GROUP] = (groups.ALL, updates)
    # Per-vehicle/run/route names cost more than the rest of a tick: only when watched.
    specific = watched - {groups.ALL_GROUP}
    for update in updates if specific else ():
        for topic in groups.topics_of(update.vehicle_id, update.run_id, update.route_id)[1:]:
            if topic.group in specific:
                by_group.setdefault(topic.group, (topic, []))[1].append(update)
    return {
        group: encode(PositionMessage(topic=str(topic), vehicles=members, sent_at=sent_at))
        for group, (topic, members) in by_group.items()
    }


class LivePublisher:
    """Coalesces positions per vehicle and sends every live message from one event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, Position] = {}
        self._occupancies: dict[str, Occupancy] = {}
        self._flush_pending = False
        self._last_flush = 0.0
        self._route_of_run: dict[str, str] = {}
        # (monotonic time read, the watched groups): the last read, used by ``send_watched``.
        self._watched: tuple[float, set[str]] = (-math.inf, set())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._flush_lock: asyncio.Lock | None = None
        self.flushes = 0

    # --- the loop thread -------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                # A forked child (Celery prefork) inherits no running thread: start its own.
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="live-publisher", daemon=True
                )
                thread.start()
                self._loop, self._pid, self._flush_pending = loop, os.getpid(), False
                self._flush_lock = asyncio.Lock()
            return self._loop

    def submit(self, coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())

    async def _send(self, messages: Mapping[str, str]) -> None:
        await self._send_pairs(list(messages.items()))

    async def _send_pairs(self, messages: list[tuple[str, str]]) -> None:
        """(group, encoded message) pairs, a group possibly more than once."""
        layer = get_channel_layer()
        results = await asyncio.gather(
            *(layer.group_send(group, live_event(group, text)) for group, text in messages),
            return_exceptions=True,
        )
        for (group, _), result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("live: group_send to %s failed: %r", group, result)

    def send_message(self, topics: list[Topic], message: ServerMessage, *, wait: bool) -> None:
        """Send ``message`` to each topic's group, stamped with that topic."""
        texts = {
            topic.group: encode(msgspec.structs.replace(message, topic=str(topic)))
            for topic in topics
        }
        future = self.submit(self._send(texts))
        if wait:
            future.result(timeout=WAIT_TIMEOUT_S)

    def send_watched(self, sends: list[tuple[list[Topic], ServerMessage]]) -> None:
        """Send each message to those of its topics' groups someone watches, all in one
        submission. For the progression's stop statuses: a batch changes several runs' at
        once, and each run's vehicle, run and route groups mostly have nobody (a
        group_send to one costs its Redis round trips all the same); positions skip them
        the same way. The watched groups are those the last position flush read, unless
        that is more than two flush intervals old."""
        if sends:
            self.submit(self._send_watched(sends))

    def _watched_now(self) -> set[str]:
        read_at, watched = self._watched
        if time.monotonic() - read_at > 2 * settings.LIVE_PUBLISH_INTERVAL_MS / 1000:
            watched = _watched_groups(get_redis())
            self._watched = (time.monotonic(), watched)
        return watched

    async def _send_watched(self, sends: list[tuple[list[Topic], ServerMessage]]) -> None:
        try:
            watched = self._watched_now()
            await self._send_pairs(
                [
                    (topic.group, encode(msgspec.structs.replace(message, topic=str(topic))))
                    for topics, message in sends
                    for topic in topics
                    if topic.group in watched
                ]
            )
        except Exception:
            logger.exception("live: stop status fan-out failed")

    # --- positions -------------------------------------------------------------------

    def offer(
        self, positions: Mapping[str, Position], occupancies: Mapping[str, Occupancy]
    ) -> None:
        """Merge one batch's latest values; schedule a flush if none is pending."""
        loop = self._ensure_loop()
        with self._lock:
            for vid, value in positions.items():
                if _newer(self._positions.get(vid), value):
                    self._positions[vid] = value
            for vid, value in occupancies.items():
                if _newer(self._occupancies.get(vid), value):
                    self._occupancies[vid] = value
            if self._flush_pending or not (self._positions or self._occupancies):
                return
            self._flush_pending = True
        loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        interval = settings.LIVE_PUBLISH_INTERVAL_MS / 1000
        delay = max(0.0, self._last_flush + interval - time.monotonic())
        self._loop.call_later(delay, lambda: self._loop.create_task(self._flush()))

    def _take(self) -> tuple[dict[str, Position], dict[str, Occupancy]]:
        with self._lock:
            taken = self._positions, self._occupancies
            self._positions, self._occupancies = {}, {}
            self._flush_pending = False
            return taken

    def _runs_and_watchers(self, vehicle_ids: list[str]) -> tuple[dict[str, str], set[str]]:
        # The claims and the watched groups in one round trip.
        client = get_redis()
        pipe = client.pipeline(transaction=False)
        pipe.mget([keys.vehicle_current_run(vid) for vid in vehicle_ids])
        active_groups_queue(pipe, time.time())
        run_ids, _, watched = pipe.execute()
        self._watched = (time.monotonic(), set(watched))
        runs = {vid: rid for vid, rid in zip(vehicle_ids, run_ids, strict=True) if rid}
        unknown = sorted({rid for rid in runs.values() if rid not in self._route_of_run})
        if unknown:
            if len(self._route_of_run) + len(unknown) > ROUTE_CACHE_MAX:
                self._route_of_run.clear()
            pipe = client.pipeline(transaction=False)
            for rid in unknown:
                pipe.hget(keys.run(rid), run_projection.ROUTE_ID)
            for rid, route_id in zip(unknown, pipe.execute(), strict=True):
                if route_id:  # a run without a projection yet is looked up again next time
                    self._route_of_run[rid] = route_id
        return runs, set(watched)

    async def _flush(self) -> None:
        # One flush at a time, so a vehicle's positions reach clients in order.
        async with self._flush_lock:
            await self._flush_once()

    async def _flush_once(self) -> None:
        self._last_flush = time.monotonic()
        positions, occupancies = self._take()
        vehicle_ids = sorted(positions.keys() | occupancies.keys())
        if not vehicle_ids:
            return
        try:
            runs, watched = self._runs_and_watchers(vehicle_ids)
            if not watched:
                return
            updates = [
                vehicle_update(
                    vid,
                    positions.get(vid),
                    occupancies.get(vid),
                    runs.get(vid),
                    self._route_of_run.get(runs.get(vid, "")),
                )
                for vid in vehicle_ids
            ]
            await self._send(plan_position_messages(updates, watched, time.time()))
            self.flushes += 1
        except Exception:
            logger.exception("live: position fan-out failed")

    def drain(self, timeout: float = WAIT_TIMEOUT_S) -> None:
        """Flush what is pending now and wait for it (tests, benchmarks, process exit)."""
        if self._loop is None or self._pid != os.getpid():
            return
        asyncio.run_coroutine_threadsafe(self._flush(), self._loop).result(timeout=timeout)


_publisher = LivePublisher()


def _watched_groups(client) -> set[str]:
    """The live groups someone watches now (``active_groups``)."""
    pipe = client.pipeline(transaction=False)
    active_groups_queue(pipe, time.time())
    return set(pipe.execute()[-1])


def publisher() -> LivePublisher:
    return _publisher


atexit.register(lambda: _publisher.drain(timeout=2.0))


def publish_positions(
    positions: Mapping[str, Position], occupancies: Mapping[str, Occupancy] | None = None
) -> None:
    """Offer the latest positions (and occupancies) of some vehicles to the live stream."""
    _publisher.offer(positions, occupancies or {})


def observe_batch(batch, redis_client) -> None:
    """Ingest batch observer (``realtime_engine.ingest.observers``): stream the batch live."""
    _publisher.offer(batch.positions, batch.occupancies)


def publish_run_state(
    run_id: str,
    state: str,
    *,
    previous_state: str | None = None,
    event: str | None = None,
    vehicle_id: str | None = None,
    route_id: str | None = None,
    trip_id: str | None = None,
    wait: bool = False,
) -> None:
    """A lifecycle transition of ``run_id`` to ``state``, to its run/vehicle/route and all."""
    message = RunStateMessage(
        topic="",
        run_id=str(run_id),
        state=str(state),
        sent_at=time.time(),
        previous_state=None if previous_state is None else str(previous_state),
        event=None if event is None else str(event),
        vehicle_id=vehicle_id,
        route_id=route_id,
        trip_id=trip_id,
    )
    _publisher.send_message(groups.topics_of(vehicle_id, str(run_id), route_id), message, wait=wait)


def publish_stop_statuses(changes: Iterable[tuple[str, VehicleStopStatus, str | None]]) -> None:
    """Several runs' new stop statuses, (run id, status, vehicle id) each: one batch's
    (progression observer), to the watched groups of their vehicle, run and all."""
    sent_at = time.time()
    _publisher.send_watched(
        [
            (
                groups.topics_of(vehicle_id, str(run_id), None),
                StopStatusMessage(
                    topic="",
                    run_id=str(run_id),
                    status=StopStatusView(
                        current_status=status.current_status.value,
                        timestamp=status.timestamp,
                        current_stop_sequence=status.current_stop_sequence,
                        stop_id=status.stop_id,
                    ),
                    sent_at=sent_at,
                    vehicle_id=vehicle_id,
                    route_id=None,
                ),
            )
            for run_id, status, vehicle_id in changes
        ]
    )


def publish_feed_status(
    feed: str, header_timestamp: int, *, entities: int | None = None, wait: bool = False
) -> None:
    """A GTFS-RT feed was rebuilt (feed builders), to everyone."""
    message = FeedStatusMessage(
        topic="",
        feed=feed,
        header_timestamp=int(header_timestamp),
        sent_at=time.time(),
        entities=entities,
    )
    _publisher.send_message([groups.ALL], message, wait=wait)


def publish_alert(change: AlertChanged, *, wait: bool = False) -> None:
    """A service alert was created, updated or ended, to all, alerts and the routes it names.

    Sent to those groups whether watched or not (unlike stop statuses): an alert changes
    rarely, and a subscriber whose snapshot read missed the change must get the message.
    """
    message = AlertMessage(
        topic="", action=change.action, alert=alert_view(change), sent_at=time.time()
    )
    _publisher.send_message(groups.alert_topics(change.route_ids), message, wait=wait)
