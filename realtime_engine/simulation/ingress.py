"""Which ingress ``manage.py simulate`` and ``manage.py replay_avl`` publish to: the options
both commands take and the ``FleetPublisher`` they open from them and the settings.

- ``--ingress mqtt`` (the default): ``publisher.TelemetryPublisher`` to the broker at
  ``MQTT_URL`` under ``MQTT_TOPIC_ROOT``, positions and occupancy;
- ``--ingress streams``: ``streams_publisher.StreamsPublisher`` XADDing gateway records to
  ``--stream`` (default: the first of ``STREAMS_KEYS``) in the Redis of ``REDIS_URL``,
  trimmed to about ``--stream-maxlen`` entries, under each vehicle's tracker IMEI;
  positions only (the record has no occupancy).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.management.base import CommandError

from databus.redis import get_redis
from realtime_engine.simulation.publisher import TelemetryPublisher
from realtime_engine.simulation.publishing import FleetPublisher
from realtime_engine.simulation.streams_publisher import DEFAULT_MAXLEN, StreamsPublisher
from runs.models import Vehicle


class Ingress(StrEnum):
    MQTT = "mqtt"
    STREAMS = "streams"


@dataclass(frozen=True, slots=True)
class IngressChoice:
    ingress: Ingress
    stream: str
    stream_maxlen: int

    @classmethod
    def from_options(cls, options: dict) -> IngressChoice:
        """The choice the command's options make; ``CommandError`` if they make none."""
        maxlen = options["stream_maxlen"]
        if maxlen < 1:
            raise CommandError("--stream-maxlen must be at least 1")
        stream = options["stream"] or settings.STREAMS_KEYS[0]
        return cls(Ingress(options["ingress"]), stream, maxlen)

    def describe(self) -> str:
        """Where the telemetry goes, for the command's first line."""
        if self.ingress is Ingress.MQTT:
            return f"MQTT {settings.MQTT_URL} under {settings.MQTT_TOPIC_ROOT!r}"
        return (
            f"stream {self.stream!r} of {settings.REDIS_URL} (MAXLEN ~{self.stream_maxlen:,};"
            " positions only)"
        )


def add_ingress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ingress",
        choices=[ingress.value for ingress in Ingress],
        default=Ingress.MQTT.value,
        help="mqtt: position and occupancy messages to MQTT_URL under MQTT_TOPIC_ROOT;"
        " streams: AVL gateway records (positions only: the record has no occupancy) XADDed"
        " to --stream in the Redis of REDIS_URL, under each vehicle's tracker IMEI",
    )
    parser.add_argument(
        "--stream",
        default="",
        help="with --ingress streams: the stream (default: first of STREAMS_KEYS)",
    )
    parser.add_argument(
        "--stream-maxlen",
        type=int,
        default=DEFAULT_MAXLEN,
        help="with --ingress streams: trim the stream to about N entries (XADD MAXLEN ~ N;"
        f" default {DEFAULT_MAXLEN:,})",
    )


def tracker_imeis(vehicle_ids: Iterable[str]) -> dict[str, str]:
    """The tracker IMEI of each of the vehicles that has one."""
    return dict(
        Vehicle.objects.filter(pk__in=list(vehicle_ids))
        .filter(tracker_imei__isnull=False)
        .values_list("id", "tracker_imei")
    )


def publisher_open(
    choice: IngressChoice,
    *,
    vehicle_ids: Iterable[str],
    name: str,
    close_timeout_s: float = 10.0,
) -> FleetPublisher:
    """The publisher ``choice`` names, for the vehicles ``vehicle_ids`` (with ``streams``,
    each must have a tracker IMEI); ``CommandError`` if the broker cannot be reached."""
    if choice.ingress is Ingress.MQTT:
        try:
            return TelemetryPublisher(
                settings.MQTT_ADDRESS,
                settings.MQTT_TOPIC_ROOT,
                name=name,
                close_timeout_s=close_timeout_s,
            )
        except OSError as error:
            raise CommandError(
                f"cannot connect to the broker at {settings.MQTT_URL}: {error}"
            ) from error
    vehicle_ids = list(vehicle_ids)
    devices = tracker_imeis(vehicle_ids)
    missing = sorted(set(vehicle_ids) - devices.keys())
    if missing:
        raise CommandError(f"no tracker IMEI for {', '.join(missing[:10])}")
    return StreamsPublisher(
        get_redis(),
        choice.stream,
        devices,
        maxlen=choice.stream_maxlen,
        name=name,
        close_timeout_s=close_timeout_s,
    )
