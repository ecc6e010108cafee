"""Write position history in a thread of its own, so the consumer reads the next batch meanwhile.

The consumer ``submit``s each batch's positions with the message ids it may
acknowledge once they are durable; this thread writes them (merging whatever
queued up into one statement), retries with capped backoff while PostgreSQL is
unreachable, and hands the ids back through ``completed`` (the consumer acks
them: paho is driven by the consumer's thread only). ``close`` gives up on what
cannot be written: those messages stay unacknowledged and the broker redelivers.

While PostgreSQL is down, everything submitted waits here: the consumer's ack
window (Receive Maximum) bounds it, and with it this thread's memory.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from realtime_engine.ingest import metrics
from realtime_engine.ingest.history import HistoryWriter
from runs.domain.telemetry.position import Position

logger = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_CAP_S = 30.0
# After giving up, wait this long for the thread (a write in progress ends within the
# writer's connect timeout; the thread is a daemon and closes its writer itself).
CLOSE_JOIN_S = 0.5


@dataclass(frozen=True)
class Submission:
    generation: int  # the MQTT connection the message ids belong to (Streams: 0)
    positions: list[Position]
    # What the ingress acknowledges once written: MQTT (mid, qos), Streams (stream, entry id).
    message_ids: list[tuple[int, int]] | list[tuple[str, str]]


class BackgroundHistory:
    def __init__(self, writer: HistoryWriter, *, wake: Callable[[], None]) -> None:
        self._writer = writer
        self._wake = wake
        self._queue: queue.SimpleQueue[Submission | None] = queue.SimpleQueue()
        self._completed: deque[Submission] = deque()
        self._giving_up = threading.Event()
        self._lock = threading.Lock()
        self._outstanding = 0
        self._thread = threading.Thread(target=self._run, name="ingest-history", daemon=True)
        self._thread.start()

    @property
    def outstanding(self) -> int:
        """Submissions neither written nor abandoned yet."""
        return self._outstanding

    def submit(self, submission: Submission) -> None:
        with self._lock:
            self._outstanding += 1
        self._queue.put(submission)

    def completed(self) -> list[Submission]:
        done = []
        while self._completed:
            done.append(self._completed.popleft())
        return done

    def close(self, timeout: float) -> None:
        """Write what can be written within ``timeout``; abandon the rest; stop the thread.

        Returns within ``timeout`` + ``CLOSE_JOIN_S`` even while a write hangs."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._giving_up.set()
        self._thread.join(CLOSE_JOIN_S)

    def _run(self) -> None:
        try:
            self._write_until_closed()
        finally:
            self._writer.close()

    def _write_until_closed(self) -> None:
        delay = RETRY_FIRST_S
        failing = False
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, closing = [first], False
            while True:  # merge what queued up while the previous write ran
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                batch.append(more)
            rows = [position for submission in batch for position in submission.positions]
            while True:
                try:
                    self._writer.write(rows)
                except psycopg.Error as error:
                    metrics.STORE_FAILURES.labels(store="postgres").inc()
                    if not failing:
                        logger.warning(
                            "position history not writable (%s); holding acks, retrying",
                            str(error).strip().splitlines()[0],
                        )
                    failing = True
                    if self._giving_up.wait(delay):
                        self._finish(batch, written=False)
                        return
                    delay = min(delay * 2, RETRY_CAP_S)
                    continue
                if failing:
                    logger.info("position history writable again")
                failing, delay = False, RETRY_FIRST_S
                self._finish(batch, written=True)
                break
            if closing:
                return

    def _finish(self, batch: list[Submission], *, written: bool) -> None:
        if written:
            self._completed.extend(batch)
        with self._lock:
            self._outstanding -= len(batch)
        self._wake()
