"""Helpers of the Streams consumer tests: registered trackers, gateway entries, consumers
running in threads of the test process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import redis

from databus import keys
from realtime_engine.ingest.service import build_streams_consumer
from realtime_engine.ingest.streams.consumer import StreamsConsumer
from realtime_engine.ingest.streams.record import encode_record
from realtime_engine.models import PositionRecord
from realtime_engine.tests.consumer_threads import ConsumerThreads
from runs.models import Vehicle

STREAM = keys.TELEMETRY_AVL_STREAM
GROUP = "databus"


def imei(n: int) -> str:
    return f"35630704{n:07d}"


def register_trackers(count: int, *, prefix: str = "bus") -> dict[str, str]:
    """``count`` vehicles ``{prefix}-{n}``, each with the tracker ``imei(n)``; {imei: vid}."""
    fleet = {imei(n): f"{prefix}-{n}" for n in range(count)}
    Vehicle.objects.bulk_create(
        [Vehicle(id=vid, tracker_imei=tracker) for tracker, vid in fleet.items()],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return fleet


# One base for every fix of a session: the same ``n`` is the same record whenever it is made.
BASE_S = int(time.time()) - 3600


def fix(n: int, *, trackers: int, base_s: int = BASE_S) -> dict[str, str]:
    """Entry fields of fix ``n`` of a fleet of ``trackers``: each tracker's fixes one second
    apart, so that ``n`` names one history row (vehicle, timestamp)."""
    return encode_record(
        imei(n % trackers),
        timestamp_ms=(base_s + n // trackers) * 1000,
        latitude=38.9 + (n % 100) * 1e-4,
        longitude=-77.03,
        speed_kmh=36.0,
        attributes={"239": 1},
    )


def add_entries(client: redis.Redis, entries: Iterable[dict[str, str]], stream=STREAM) -> list:
    pipe = client.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(stream, fields)
    return pipe.execute()


def row_count() -> int:
    return PositionRecord.objects.count()


def pending(client: redis.Redis, stream: str = STREAM, group: str = GROUP) -> int:
    try:
        return client.xpending(stream, group)["pending"]
    except redis.ResponseError:
        return 0


class StreamsRunner(ConsumerThreads[StreamsConsumer]):
    """StreamsConsumers in threads of the test process; all stopped at the end."""

    name = "the Streams consumer"

    def start(self, *, observers=(), name: str | None = None, **overrides) -> StreamsConsumer:
        consumer = build_streams_consumer(
            consumer_name=name or f"test-{uuid.uuid4().hex[:8]}", observers=observers, **overrides
        )
        return self.launch(consumer, "the Streams consumer did not start")

    def stop_all(self) -> None:
        for consumer, _ in self._running:
            self.stop(consumer)
