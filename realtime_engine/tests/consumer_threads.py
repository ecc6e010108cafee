"""Ingress consumers (MQTT, Redis Streams) run in daemon threads of the test process: both
have ``run``, ``ready`` and ``request_stop``, so one runner starts and stops either."""

from __future__ import annotations

import threading
from typing import Generic, Protocol, TypeVar


class Consumer(Protocol):
    ready: threading.Event

    def run(self) -> None: ...

    def request_stop(self) -> None: ...


C = TypeVar("C", bound=Consumer)


class ConsumerThreads(Generic[C]):
    """``launch`` a built consumer, ``stop`` one; the subclass builds them and names them in
    its failures."""

    # How a failure names the consumer (``"consumer"`` → "consumer did not stop").
    name = "consumer"

    def __init__(self) -> None:
        self._running: list[tuple[C, threading.Thread]] = []

    def launch(self, consumer: C, not_ready: str) -> C:
        """Run ``consumer`` in a thread; ``not_ready`` is the failure if it is not ready
        within 15 s."""
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        self._running.append((consumer, thread))
        if not consumer.ready.wait(15):
            raise TimeoutError(not_ready)
        return consumer

    def stop(self, consumer: C) -> None:
        for running, thread in self._running:
            if running is consumer:
                consumer.request_stop()
                thread.join(30)
                assert not thread.is_alive(), f"{self.name} did not stop"
