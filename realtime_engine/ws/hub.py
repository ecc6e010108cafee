"""One channel-layer receiver per web process, fanning live messages out to its connections.

A group message reaches a process once (its hub's channel is the group member) and
is handed, already encoded, to each local connection watching that group. Per-connection
channel-layer membership would cost one wake-up of the layer's receive machinery per
connection and message; with hundreds of connections that, not the sockets, is the limit.
Several web processes behind one Redis each have a hub, so each delivers every message
to its own clients.

Every heartbeat interval the hub renews what Redis knows of it, for the whole process:
- its channel-layer memberships: channels-redis forgets a member after ``group_expiry``
  (a day) and a restarted Redis forgets them all, and a hub joins a group only when its
  first local subscriber arrives, so without renewal a long-running process would go
  silent for clients that stay connected;
- its groups' ``active_groups`` marks, in one write (one per connection would arrive all
  at once from clients that connected together, and stall delivery).
The hub also knows every open connection of the process, subscribed or not, so that
a graceful shutdown (``shutdown``) can close them all with 1001.
Used by ``consumer``; events come from ``fanout``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from databus.redis import get_redis
from realtime_engine.ws.active_groups import active_groups_touch

logger = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 1.0


class Subscriber(Protocol):
    def deliver(self, text: str) -> None: ...

    async def go_away(self) -> None:
        """Close the connection: the server is shutting down."""


class LiveHub:
    def __init__(self) -> None:
        self.members: dict[str, set[Subscriber]] = {}
        self.connections: set[Subscriber] = set()
        self.going_away = False  # shutting down: connections are closed, new ones too
        self.channel: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._lock: asyncio.Lock | None = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a restarted server): start afresh
            self.__init__()
            self._loop, self._lock = loop, asyncio.Lock()

    async def _start(self) -> None:
        if self.channel is None:
            layer = get_channel_layer()
            self.channel = await layer.new_channel("live")
            self._tasks = [
                asyncio.create_task(self._receive_loop(layer, self.channel)),
                asyncio.create_task(self._renew_loop()),
            ]

    def connected(self, subscriber: Subscriber) -> None:
        self._bind()
        self.connections.add(subscriber)

    def disconnected(self, subscriber: Subscriber) -> None:
        self.connections.discard(subscriber)

    async def close_all(self, timeout: float) -> None:
        """Close every open connection (a graceful shutdown); wait at most ``timeout``."""
        self.going_away = True
        closing = [asyncio.ensure_future(c.go_away()) for c in tuple(self.connections)]
        if closing:
            # Not cancelled after the timeout: a close half done still finishes.
            await asyncio.wait(closing, timeout=timeout)
        for task in closing:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.warning("live hub: closing a connection failed: %r", task.exception())

    async def join(self, group: str, subscriber: Subscriber) -> None:
        self._bind()
        async with self._lock:
            await self._start()
            members = self.members.setdefault(group, set())
            if not members:
                await get_channel_layer().group_add(group, self.channel)
            members.add(subscriber)

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        self._bind()
        async with self._lock:
            members = self.members.get(group)
            if members is None or subscriber not in members:
                return
            members.discard(subscriber)
            if not members:
                del self.members[group]
                await get_channel_layer().group_discard(group, self.channel)

    async def _receive_loop(self, layer, channel: str) -> None:
        while True:
            try:
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live hub: receive failed")
                await asyncio.sleep(RETRY_AFTER_ERROR_S)
                continue
            for subscriber in tuple(self.members.get(event.get("group", ""), ())):
                subscriber.deliver(event["text"])

    async def _renew_loop(self) -> None:
        touch = sync_to_async(_touch, thread_sensitive=False)
        while True:
            await asyncio.sleep(settings.LIVE_WS_HEARTBEAT_S)
            try:
                async with self._lock:  # not while a join or leave is half done
                    groups = list(self.members)
                    layer = get_channel_layer()
                    for group in groups:
                        await layer.group_add(group, self.channel)
                await touch(groups)
            except Exception:
                logger.exception("live hub: renewing group memberships failed")


def _touch(groups: list[str]) -> None:
    active_groups_touch(get_redis(), groups)


hub = LiveHub()
