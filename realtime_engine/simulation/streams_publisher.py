"""The reference publisher of the Redis Streams ingress: fixes XADDed as an AVL gateway does.

The sibling of the MQTT ``publisher``, behind the same ``publishing.FleetPublisher``: the
fleet simulator (``manage.py simulate --ingress streams``) and the AVL replay
(``manage.py replay_avl --ingress streams``) publish through it, and a gateway's author
may copy it. Each fix becomes one entry of the stream, its fields built by the record
format's ``encode_record`` (``realtime_engine.ingest.streams.record``, the one place the
format is known) under the vehicle's tracker IMEI (``Vehicle.tracker_imei``, given to
the publisher as ``devices``). The odometer, which the record has no field for, goes in
the IO bag as Teltonika's "Total Odometer" element. A load is not sent: the gateway
record has no occupancy, so a Streams vehicle publishes none (counted in
``skipped_occupancy``).

Entries are buffered and XADDed in one pipeline per ``flush`` (the callers flush once a
tick), each with ``MAXLEN ~ maxlen``: Redis trims whole nodes of the stream, cheaply,
keeping at least ``maxlen`` entries. Trimming does not wait for the consumer group, so
``maxlen`` must hold more than any backlog the consumers may fall behind by.

Like the MQTT publisher it does not fail when its server is away: a flush that Redis
refuses keeps the entries (at most ``buffer_max``, the oldest dropped and counted beyond
that) for the next one. A pipeline cut off midway may have added some of its entries;
they are added again (at least once: the consumer writes a fix once however often it
reads it). ``close`` retries until ``timeout_s`` and says how many entries never made it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from redis import Redis
from redis.exceptions import RedisError

from realtime_engine.ingest.streams.record import encode_record
from realtime_engine.simulation.publishing import Fix, Load

logger = logging.getLogger(__name__)

# Entries kept in the stream by approximate trimming: 14 hours of a 20-bus demo at 1 Hz.
DEFAULT_MAXLEN = 1_000_000
# A pipeline is sent once this many entries are buffered, flush or not (a replay at high
# speed publishes thousands of fixes between two waits).
PIPELINE_MAX = 1_000
# Entries kept for a Redis that is away (about a minute of a 200-bus fleet at 1 Hz).
BUFFER_MAX = 20_000
# Between two attempts of ``close`` while Redis does not answer.
CLOSE_RETRY_S = 0.5
KMH_PER_MPS = 3.6
# Teltonika's IO element "Total Odometer" (metres).
ODOMETER_IO_ID = "16"


def speed_mps_to_kmh(speed_mps: float) -> float:
    """The contracts' m/s as a gateway's km/h (``record.speed_kmh_to_mps`` undoes it)."""
    return speed_mps * KMH_PER_MPS


def gateway_fields(device_id: str, fix: Fix) -> dict[str, str]:
    """The stream entry of one fix of tracker ``device_id``."""
    return encode_record(
        device_id,
        timestamp_ms=fix.timestamp * 1000,
        latitude=fix.latitude,
        longitude=fix.longitude,
        speed_kmh=None if fix.speed_mps is None else speed_mps_to_kmh(fix.speed_mps),
        angle=fix.bearing,
        attributes=None if fix.odometer_m is None else {ODOMETER_IO_ID: round(fix.odometer_m)},
    )


class StreamsPublisher:
    def __init__(
        self,
        redis_client: Redis,
        stream: str,
        devices: Mapping[str, str],
        *,
        maxlen: int = DEFAULT_MAXLEN,
        name: str = "simulator",
        close_timeout_s: float = 10.0,
        pipeline_max: int = PIPELINE_MAX,
        buffer_max: int = BUFFER_MAX,
    ) -> None:
        """``devices`` maps each vehicle id to its tracker IMEI; ``name`` prefixes the log
        lines; ``close_timeout_s`` bounds how long ``close`` retries unless told otherwise."""
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self._redis = redis_client
        self._stream = stream
        self._devices = devices
        self._maxlen = maxlen
        self._name = name
        self._close_timeout_s = close_timeout_s
        self._pipeline_max = pipeline_max
        self._buffer_max = buffer_max
        self._buffer: list[dict[str, str]] = []
        self.published = 0  # entries Redis added to the stream
        self.dropped = 0  # entries given up while Redis was away
        self.skipped_occupancy = 0

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def publish_position(self, vehicle_id: str, fix: Fix) -> None:
        """Buffer the fix's entry; a vehicle without a tracker is a ``KeyError``."""
        self._buffer.append(gateway_fields(self._devices[vehicle_id], fix))
        if len(self._buffer) >= self._pipeline_max:
            self.flush()

    def publish_occupancy(self, vehicle_id: str, load: Load) -> None:
        self.skipped_occupancy += 1

    def flush(self) -> None:
        """XADD what is buffered in one pipeline; kept for the next flush if Redis refuses."""
        if not self._buffer:
            return
        pipe = self._redis.pipeline(transaction=False)
        for fields in self._buffer:
            pipe.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)
        try:
            pipe.execute()
        except RedisError as error:
            overflow = len(self._buffer) - self._buffer_max
            if overflow > 0:
                del self._buffer[:overflow]
                self.dropped += overflow
            logger.warning(
                "%s: %d entries not added to %s yet: %s",
                self._name,
                len(self._buffer),
                self._stream,
                error,
            )
            return
        self.published += len(self._buffer)
        self._buffer.clear()

    def close(self, timeout_s: float | None = None) -> int:
        """Flush, retrying up to ``timeout_s`` while Redis refuses; how many entries never
        reached the stream (the client's connections stay with its owner)."""
        deadline = time.monotonic() + (self._close_timeout_s if timeout_s is None else timeout_s)
        self.flush()
        while self._buffer and time.monotonic() < deadline:
            time.sleep(CLOSE_RETRY_S)
            self.flush()
        lost = len(self._buffer) + self.dropped
        if lost:
            logger.warning(
                "%s: %d of %d entries never reached %s",
                self._name,
                lost,
                self.published + lost,
                self._stream,
            )
        return lost
