"""Celery beat's scheduler, made to finish the tick in hand when beat is told to stop.

celery beat handles SIGTERM and SIGINT by saving its schedule and raising SystemExit
on whatever line the main thread is at. Inside a tick that is between an entry's
``reserve`` (its next run recorded, and then saved) and its ``apply_async``: the task
is never sent, and waits a whole period (a day, for the retention purge). Here a tick
runs with those signals held: a signal that arrives meanwhile is handed to beat's own
handler as soon as the tick is done, which then stops beat losing nothing. Held in
Python, not with the thread's signal mask: the kernel gives a process's signal to any
thread that does not block it, and Python runs the handler in the main thread anyway.

One beat schedules at a time: each tick first takes or renews ``keys.BEAT_LOCK`` (a
token of its own, TTL ``BEAT_LOCK_TTL_S``). A beat that does not hold it — a second one
started by mistake, a restarted one next to one still alive — sends nothing and tries
again every ``BEAT_HEARTBEAT_INTERVAL_S``, so it takes over once the holder stops
renewing (dead: the TTL passes; stopped: it releases the lock on its way out). Redis
unreachable also means sending nothing: the lock cannot be proven, and doubled work is
what this prevents. The holder writes its heartbeat (``databus.task_records``) every tick,
and ticks at least every heartbeat interval, so an old heartbeat means no beat schedules.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from types import FrameType

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

from databus import keys
from databus.redis import get_redis
from databus.task_records import heartbeat_set

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# Take the lock, or renew it if this beat holds it: 1 when this beat holds it now.
_TAKE_OR_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# Release the lock only if this beat still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TickFinishingScheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Unique per scheduler (two in one process are two beats); host and pid for people.
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.heartbeat_interval_s = float(settings.BEAT_HEARTBEAT_INTERVAL_S)
        self.max_interval = min(self.max_interval, self.heartbeat_interval_s)
        self.holds_lock: bool | None = None  # unknown until the first tick

    def tick(self, *args, **kwargs) -> float:
        if threading.current_thread() is not threading.main_thread():
            return self._tick(*args, **kwargs)  # beat embedded in a thread: no signals here
        held: list[int] = []

        def hold(signum: int, frame: FrameType | None) -> None:
            held.append(signum)

        handlers = {sig: signal.signal(sig, hold) for sig in STOP_SIGNALS}
        try:
            return self._tick(*args, **kwargs)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if held:
                _deliver(held[0], handlers[held[0]])

    def _tick(self, *args, **kwargs) -> float:
        """Schedule if this beat holds the lock (and say so in the heartbeat)."""
        if not self._take_lock():
            return self.heartbeat_interval_s
        try:
            heartbeat_set(
                get_redis(),
                at=time.time(),
                identity=self.identity,
                interval_s=self.heartbeat_interval_s,
            )
        except redis.RedisError as error:
            logger.warning("beat heartbeat not written: %s", error)
        return super().tick(*args, **kwargs)

    def _take_lock(self) -> bool:
        ttl_ms = int(settings.BEAT_LOCK_TTL_S * 1000)
        try:
            held = bool(get_redis().eval(_TAKE_OR_RENEW, 1, keys.BEAT_LOCK, self.identity, ttl_ms))
        except redis.RedisError as error:
            logger.warning("beat lock unknown (%s): scheduling nothing this tick", error)
            held = False
        if held != self.holds_lock:
            logger.info(
                "beat %s %s",
                self.identity,
                "holds the lock: scheduling"
                if held
                else "does not hold the lock: scheduling nothing",
            )
        self.holds_lock = held
        return held

    def close(self) -> None:
        super().close()
        if self.holds_lock:
            try:
                get_redis().eval(_RELEASE, 1, keys.BEAT_LOCK, self.identity)
            except redis.RedisError as error:
                logger.warning("beat lock not released (expires by itself): %s", error)
            self.holds_lock = False


def _deliver(signum: int, handler) -> None:
    """Run what would have run had the signal come between ticks."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)
