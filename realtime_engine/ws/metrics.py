"""Prometheus metrics of the live WebSocket (``/ws/live/``), per web process.

Exported by web's ``/metrics`` (each uvicorn process its own). Open connections are
read from the process's ``hub`` at scrape time, so no code path has to keep a gauge
in step; closes the server makes are counted by close code (``CloseCode``: 4408 is a
client too slow to read, 1001 a shutdown, 4401/4403 refused credentials or topics).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from databus.metrics import REGISTRY
from realtime_engine.ws.hub import hub

CLOSED = Counter(
    "databus_ws_closed",
    "Live connections the server closed, by WebSocket close code",
    ["code"],
    registry=REGISTRY,
)
SENT = Counter(
    "databus_ws_messages_sent", "Messages sent to live WebSocket clients", registry=REGISTRY
)


class ConnectionsCollector(Collector):
    """Open live connections of this process, counted at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "databus_ws_connections",
            "Open live WebSocket connections of this web process",
            value=len(hub.connections),
        )


REGISTRY.register(ConnectionsCollector())
