"""The ``/ws/live/`` consumer: authenticate, authorize, subscribe to topics, stream live messages.

Per connection: the user's role (``actor``, read once at connect: no role, closed with
``CloseCode.FORBIDDEN``), the topics it watches (joined through the process's ``hub``,
not as channel-layer members of their own), a bounded outbound queue drained by one
sender task, and a heartbeat task. Each subscribe is checked by ``visibility`` (one
database read for an operator's run or vehicle topic; none on the live-message path); a
topic the role may not watch closes the connection with ``FORBIDDEN``, and every heartbeat
an operator's run and vehicle topics are checked again (a vehicle stops being theirs when
their run ends: they are unsubscribed with reason ``not_visible``).
Live messages only enqueue (never await the client): when the queue is full the client
is too slow and is closed with ``CloseCode.TOO_SLOW`` instead of being buffered without
bound. When the server shuts down gracefully, every connection is closed with
``CloseCode.GOING_AWAY`` (``shutdown``). Anything that fails while handling an event or
in a connection's task closes it with ``CloseCode.INTERNAL_ERROR`` and still leaves the
hub's groups: a consumer that died without that would stay a member, renewed forever.
A snapshot is read in a worker thread: hot state, and for the topics that list them
(``ws.alerts``) the active service alerts, in one bounded query set.
Schema: docs/api/websocket.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from alerts.selectors import alert_summaries_active
from databus.redis import get_redis
from realtime_engine.ws.active_groups import active_groups_touch
from realtime_engine.ws.alerts import carries_alerts
from realtime_engine.ws.groups import BadTopic, Topic, parse_topic
from realtime_engine.ws.hub import hub
from realtime_engine.ws.messages import (
    ClientError,
    ClientType,
    CloseCode,
    ErrorCode,
    Ping,
    Pong,
    ServerMessage,
    Subscribed,
    Unsubscribed,
    UnsubscribeReason,
    decode_client,
    encode,
    error_message,
)
from realtime_engine.ws.metrics import CLOSED, SENT
from realtime_engine.ws.snapshot import snapshot_read
from realtime_engine.ws.topic_operators import topic_operators_read
from realtime_engine.ws.visibility import operators_needed, topic_visible
from runs.services.actors import Actor, actor_for_user

logger = logging.getLogger(__name__)

MAX_TOPICS_PER_CONNECTION = 100
# Close reasons are at most 123 bytes; these say why without echoing the client.
NO_ROLE_REASON = "no dispatcher or operator role"
NOT_VISIBLE_REASON = "this role may not watch that topic"

_actor_of = database_sync_to_async(actor_for_user)
_operators_of = database_sync_to_async(topic_operators_read)


def _read_snapshot(topic: Topic) -> str:
    client = get_redis()
    active_groups_touch(client, [topic.group])
    # Touched before the alerts are read: an alert committed after this read reaches the
    # topic as a live message (``fanout.publish_alert`` sends to every group it names).
    active = alert_summaries_active(now=timezone.now()) if carries_alerts(topic) else ()
    return encode(snapshot_read(client, topic, active))


# Snapshot reads in flight, by group: subscribers arriving meanwhile (a reconnect storm)
# share one read instead of each scanning the whole fleet. Only reads still running are
# shared, so a snapshot is never older than the read itself.
_snapshots_reading: dict[str, asyncio.Future] = {}


async def _snapshot_text(topic: Topic) -> str:
    reading = _snapshots_reading.get(topic.group)
    if reading is None:
        # In a thread of its own (not the one of the role and operator reads): a fleet's
        # snapshot takes a while. It may read the alerts, so its connection is looked after
        # like every database call's (closed when old or broken).
        reading = asyncio.ensure_future(
            database_sync_to_async(_read_snapshot, thread_sensitive=False)(topic)
        )
        _snapshots_reading[topic.group] = reading
        reading.add_done_callback(lambda _: _snapshots_reading.pop(topic.group, None))
    return await asyncio.shield(reading)


class LiveConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the process's hub receives for every connection.
    channel_layer_alias = "live-connections-use-the-hub"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.topics: dict[str, Topic] = {}  # group name -> topic
        self.actor: Actor | None = None
        self.closing = False
        self.released = False
        self.tasks: list[asyncio.Task] = []

    async def dispatch(self, message) -> None:
        """Every ASGI event of the connection; a failure closes it (1011), cleanup still runs."""
        try:
            await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception(
                "live: %s failed; closing %s", message.get("type"), self.scope.get("client")
            )
            await self._fail()
            if message.get("type") == "websocket.disconnect":
                raise StopConsumer() from None

    async def connect(self) -> None:
        user = self.scope.get("user")
        # Accept first: a close before the handshake reaches the client as a bare HTTP 403.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self._close_now(CloseCode.UNAUTHENTICATED)
            return
        self.actor = await _actor_of(user)
        if self.actor is None:
            await self._close_now(CloseCode.FORBIDDEN, NO_ROLE_REASON)
            return
        if hub.going_away:  # arrived while the server shuts down
            await self._close_now(CloseCode.GOING_AWAY)
            return
        hub.connected(self)
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.LIVE_WS_QUEUE_MAX)
        self.tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]
        for task in self.tasks:
            task.add_done_callback(self._task_done)

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """Leave the hub and every group, stop the tasks; once, however the connection ends."""
        self.closing = True
        if self.released:
            return
        self.released = True
        hub.disconnected(self)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:  # a failed task's ``_fail`` is one of them
                task.cancel()
        for group in list(self.topics):
            try:
                await hub.leave(group, self)
            except Exception:  # the channel layer's Redis is away: the hub forgot us anyway
                logger.exception("live: leaving %s failed", group)
        self.topics.clear()

    async def _fail(self) -> None:
        try:
            if not self.closing:
                await self._close_now(CloseCode.INTERNAL_ERROR)
        except Exception:  # the socket is gone already
            logger.debug("live: closing after a failure failed", exc_info=True)
        finally:
            await self._release()

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None and not self.released:
            logger.error(
                "live: a connection task failed; closing %s",
                self.scope.get("client"),
                exc_info=task.exception(),
            )
            self.tasks.append(asyncio.create_task(self._fail()))

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
            await self._close_now(CloseCode.GOING_AWAY)

    async def _close_now(self, code: CloseCode, reason: str | None = None) -> None:
        self.closing = True
        if self.tasks:
            self.tasks[0].cancel()  # the sender: nothing more goes out before the close frame
        CLOSED.labels(code=str(int(code))).inc()
        await self.close(code=code, reason=reason)

    async def _send_loop(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.send(text_data=text)
            SENT.inc()

    async def _heartbeat_loop(self) -> None:
        interval = settings.LIVE_WS_HEARTBEAT_S
        # Clients that connected together (a reconnect after a restart) ping apart.
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            self._reply(Ping(at=time.time()))
            await self._recheck_topics()
            await asyncio.sleep(interval)

    async def _recheck_topics(self) -> None:
        """Leave the topics the role no longer sees (an operator's run ended or was handed over)."""
        checked = [t for t in self.topics.values() if operators_needed(self.actor, t)]
        if not checked:
            return
        operators = await _operators_of(checked)
        for topic in checked:
            if topic_visible(self.actor, topic, operators.get(topic, frozenset())):
                continue
            if self.topics.pop(topic.group, None) is not None:
                await hub.leave(topic.group, self)
                self._reply(Unsubscribed(topic=str(topic), reason=UnsubscribeReason.NOT_VISIBLE))

    def deliver(self, text: str) -> None:
        """A live message of a watched topic, already encoded (from the hub)."""
        self._enqueue(text)

    # --- inbound ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.closing:
            return
        try:
            message = decode_client(text_data, max_bytes=settings.LIVE_WS_MAX_FRAME_BYTES)
            if message.type is ClientType.PING:
                self._reply(Pong(at=time.time()))
                return
            topic = parse_topic(message.topic)
        except ClientError as error:
            self._reply(error_message(error.code, error.detail))
            return
        except BadTopic as error:
            self._reply(error_message(ErrorCode.BAD_TOPIC, str(error)))
            return
        if message.type is ClientType.SUBSCRIBE:
            await self._subscribe(topic)
        else:
            await self._unsubscribe(topic)

    async def _may_watch(self, topic: Topic) -> bool:
        operated_by: frozenset[int] = frozenset()
        if operators_needed(self.actor, topic):
            operated_by = (await _operators_of([topic])).get(topic, frozenset())
        return topic_visible(self.actor, topic, operated_by)

    async def _subscribe(self, topic: Topic) -> None:
        if topic.group not in self.topics and len(self.topics) >= MAX_TOPICS_PER_CONNECTION:
            self._reply(
                error_message(
                    ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {MAX_TOPICS_PER_CONNECTION} topics per connection",
                )
            )
            return
        if not await self._may_watch(topic):
            await self._close_now(CloseCode.FORBIDDEN, NOT_VISIBLE_REASON)
            await self._release()
            return
        # Join before reading: a change after the read arrives as a live message.
        await hub.join(topic.group, self)
        self.topics[topic.group] = topic
        self._reply(Subscribed(topic=str(topic)))
        self._enqueue(await _snapshot_text(topic))

    async def _unsubscribe(self, topic: Topic) -> None:
        if self.topics.pop(topic.group, None) is None:
            self._reply(error_message(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {topic}"))
            return
        await hub.leave(topic.group, self)
        self._reply(Unsubscribed(topic=str(topic)))
