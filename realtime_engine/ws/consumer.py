"""The ``/ws/live/`` consumer: authenticate, subscribe to topics, stream live messages.

Per connection: the topics it watches (joined through the process's ``hub``, not
as channel-layer members of their own), a bounded outbound queue drained by one
sender task, and a heartbeat task. Live messages only enqueue (never await the
client): when the queue is full the client is too slow and is closed with
``CloseCode.TOO_SLOW`` instead of being buffered without bound. When the server shuts
down gracefully, every connection is closed with ``CloseCode.GOING_AWAY`` (``shutdown``).
Schema: docs/api/websocket.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from databus.redis import get_redis
from realtime_engine.ws.active_groups import active_groups_touch
from realtime_engine.ws.groups import BadTopic, Topic, parse_topic
from realtime_engine.ws.hub import hub
from realtime_engine.ws.messages import (
    ClientError,
    ClientType,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    Ping,
    Pong,
    ServerMessage,
    Subscribed,
    Unsubscribed,
    decode_client,
    encode,
)
from realtime_engine.ws.snapshot import snapshot_read

logger = logging.getLogger(__name__)

MAX_TOPICS_PER_CONNECTION = 100


def _read_snapshot(topic: Topic) -> str:
    client = get_redis()
    active_groups_touch(client, [topic.group])
    return encode(snapshot_read(client, topic))


# Snapshot reads in flight, by group: subscribers arriving meanwhile (a reconnect storm)
# share one read instead of each scanning the whole fleet. Only reads still running are
# shared, so a snapshot is never older than the read itself.
_snapshots_reading: dict[str, asyncio.Future] = {}


async def _snapshot_text(topic: Topic) -> str:
    reading = _snapshots_reading.get(topic.group)
    if reading is None:
        reading = asyncio.ensure_future(
            sync_to_async(_read_snapshot, thread_sensitive=False)(topic)
        )
        _snapshots_reading[topic.group] = reading
        reading.add_done_callback(lambda _: _snapshots_reading.pop(topic.group, None))
    return await asyncio.shield(reading)


class LiveConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the process's hub receives for every connection.
    channel_layer_alias = "live-connections-use-the-hub"

    async def connect(self) -> None:
        self.topics: dict[str, Topic] = {}  # group name -> topic
        self.closing = False
        self.tasks: list[asyncio.Task] = []
        user = self.scope.get("user")
        # Accept first: a close before the handshake reaches the client as a bare HTTP 403.
        await self.accept()
        if user is None or not user.is_authenticated:
            self.closing = True
            await self.close(code=CloseCode.UNAUTHENTICATED)
            return
        if hub.going_away:  # arrived while the server shuts down
            self.closing = True
            await self.close(code=CloseCode.GOING_AWAY)
            return
        hub.connected(self)
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.LIVE_WS_QUEUE_MAX)
        self.tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def disconnect(self, code: int) -> None:
        self.closing = True
        hub.disconnected(self)
        for task in self.tasks:
            task.cancel()
        for group in list(self.topics):
            await hub.leave(group, self)
        self.topics.clear()

    # --- outbound --------------------------------------------------------------------

    def _enqueue(self, text: str) -> None:
        if self.closing:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.closing = True
            logger.info("live: closing %s, outbound queue full", self.scope.get("client"))
            # Closing may wait for the socket to drain: not here, in the event handler.
            self.tasks.append(asyncio.create_task(self._close_slow()))

    def _reply(self, message: ServerMessage) -> None:
        self._enqueue(encode(message))

    async def _close_slow(self) -> None:
        await self._close_now(CloseCode.TOO_SLOW)

    async def go_away(self) -> None:
        """The server shuts down: the client should reconnect (to another replica)."""
        if not self.closing:
            self.closing = True
            await self._close_now(CloseCode.GOING_AWAY)

    async def _close_now(self, code: CloseCode) -> None:
        self.tasks[0].cancel()  # the sender: nothing more goes out before the close frame
        await self.close(code=code)

    async def _send_loop(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.send(text_data=text)

    async def _heartbeat_loop(self) -> None:
        interval = settings.LIVE_WS_HEARTBEAT_S
        # Clients that connected together (a reconnect after a restart) ping apart.
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            self._reply(Ping(at=time.time()))
            await asyncio.sleep(interval)

    def deliver(self, text: str) -> None:
        """A live message of a watched topic, already encoded (from the hub)."""
        self._enqueue(text)

    # --- inbound ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.closing:
            return
        try:
            message = decode_client(text_data)
            if message.type is ClientType.PING:
                self._reply(Pong(at=time.time()))
                return
            topic = parse_topic(message.topic)
        except ClientError as error:
            self._reply(ErrorMessage(code=error.code, detail=error.detail))
            return
        except BadTopic as error:
            self._reply(ErrorMessage(code=ErrorCode.BAD_TOPIC, detail=str(error)))
            return
        if message.type is ClientType.SUBSCRIBE:
            await self._subscribe(topic)
        else:
            await self._unsubscribe(topic)

    async def _subscribe(self, topic: Topic) -> None:
        if topic.group not in self.topics and len(self.topics) >= MAX_TOPICS_PER_CONNECTION:
            self._reply(
                ErrorMessage(
                    code=ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    detail=f"at most {MAX_TOPICS_PER_CONNECTION} topics per connection",
                )
            )
            return
        # Join before reading: a change after the read arrives as a live message.
        await hub.join(topic.group, self)
        self.topics[topic.group] = topic
        self._reply(Subscribed(topic=str(topic)))
        self._enqueue(await _snapshot_text(topic))

    async def _unsubscribe(self, topic: Topic) -> None:
        if self.topics.pop(topic.group, None) is None:
            self._reply(
                ErrorMessage(code=ErrorCode.NOT_SUBSCRIBED, detail=f"not subscribed to {topic}")
            )
            return
        await hub.leave(topic.group, self)
        self._reply(Unsubscribed(topic=str(topic)))
