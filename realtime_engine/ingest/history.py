"""Append one batch of positions to the PostgreSQL position history in one statement.

Column arrays go through ``unnest`` into a multi-row ``INSERT … ON CONFLICT DO
NOTHING``, so a redelivered or replayed position inserts nothing twice. The arrays are
sent in binary (``%b``): psycopg's text array dumper quotes every element through a
regular expression, about 17 µs of this thread's CPU per row, the GIL taken from the
consumer's loop meanwhile; binary costs about 7. Written
by the consumer; the table is ``realtime_engine.models.PositionRecord``. Errors
propagate: the consumer keeps the batch unacknowledged and retries.

The table is partitioned by UTC day (``realtime_engine.position_partitions``); the
INSERT names the parent and PostgreSQL routes each row, to its day's partition or, for
a day without one, to the DEFAULT partition, so no timestamp the ingest accepts fails a
batch for want of a partition. The conflict target is the primary key.

Both ingresses write here; a position's IO bag goes to the ``attributes`` jsonb column
(``{}`` when it has none, as from MQTT) in its JSON form, ``attributes_json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import psycopg

from realtime_engine.position_partitions.plan import TABLE
from runs.domain.telemetry.position import Attributes, Position

_INSERT = f"""
INSERT INTO {TABLE}
    (vehicle_id, "timestamp", latitude, longitude, bearing, speed, odometer, received_at,
     attributes)
SELECT v, to_timestamp(t), lat, lon, b, s, o, to_timestamp(r), a::jsonb
FROM unnest(%b::text[], %b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::float8[],
            %b::float8[], %b::float8[], %b::text[]) AS u(v, t, lat, lon, b, s, o, r, a)
ON CONFLICT (vehicle_id, "timestamp") DO NOTHING
"""

_NO_ATTRIBUTES = "{}"


def attributes_json(attributes: Attributes | None) -> str:
    """The history's JSON form of an IO bag: an integer (a bigint too) is a JSON number,
    which jsonb's numeric keeps exactly; bytes are a base64 string (RFC 4648, padded)."""
    if not attributes:
        return _NO_ATTRIBUTES
    return msgspec.json.encode(attributes).decode()


@dataclass(frozen=True)
class DatabaseTarget:
    host: str
    port: int
    dbname: str
    user: str
    password: str

    @classmethod
    def from_django(cls, alias: str = "default") -> DatabaseTarget:
        """The database Django uses right now (in tests: the test database)."""
        from django.db import connections

        params = connections[alias].settings_dict
        return cls(
            params["HOST"] or "127.0.0.1",
            int(params["PORT"] or 5432),
            params["NAME"],
            params["USER"],
            params["PASSWORD"],
        )


class HistoryWriter:
    """Holds one autocommit connection; drops it on any error and reconnects on next use."""

    def __init__(self, target: DatabaseTarget, *, connect_timeout: int = 3) -> None:
        self._target = target
        self._connect_timeout = connect_timeout
        self._connection: psycopg.Connection | None = None

    def write(self, positions: Sequence[Position]) -> None:
        if not positions:
            return
        columns = (
            [p.vehicle_id for p in positions],
            [p.timestamp for p in positions],
            [p.latitude for p in positions],
            [p.longitude for p in positions],
            [p.bearing for p in positions],
            [p.speed for p in positions],
            [p.odometer for p in positions],
            [p.received_at for p in positions],
            [attributes_json(p.attributes) for p in positions],
        )
        try:
            self._connect().execute(_INSERT, columns, binary=True)
        except psycopg.Error:
            self.close()
            raise

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            t = self._target
            self._connection = psycopg.connect(
                host=t.host,
                port=t.port,
                dbname=t.dbname,
                user=t.user,
                password=t.password,
                connect_timeout=self._connect_timeout,
                autocommit=True,
                application_name="databus-ingest",
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None
