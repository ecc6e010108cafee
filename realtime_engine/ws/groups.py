"""Subscription topics (``all``, ``alerts``, ``route:{id}``, ``run:{id}``, ``vehicle:{id}``)
and their groups.

The one place that turns a topic into a channel-layer group name. Read by the consumer
(subscribe/unsubscribe), the fan-out (where to send) and the live-group registry. Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

GROUP_PREFIX = "live."
# Channel-layer group names allow ASCII letters, digits, hyphens, underscores and periods,
# under 100 characters; ids outside that set are named by a digest instead.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_ID_LENGTH = 255


class TopicKind(StrEnum):
    ALL = "all"
    ALERTS = "alerts"  # the active service alerts only: public, every role watches it
    ROUTE = "route"
    RUN = "run"
    VEHICLE = "vehicle"


class BadTopic(ValueError):
    """A topic string that names no known topic."""


@dataclass(frozen=True, slots=True)
class Topic:
    kind: TopicKind
    ident: str = ""

    def __str__(self) -> str:
        return self.kind.value if self.kind in WHOLE_KINDS else f"{self.kind}:{self.ident}"

    @property
    def group(self) -> str:
        return group_name(self)


# Kinds that name one topic each, without an id.
WHOLE_KINDS = frozenset({TopicKind.ALL, TopicKind.ALERTS})
ALL = Topic(TopicKind.ALL)
ALERTS = Topic(TopicKind.ALERTS)


def parse_topic(text: object) -> Topic:
    """``"route:R1"`` → ``Topic(ROUTE, "R1")``; raises ``BadTopic`` on anything else."""
    if not isinstance(text, str) or not text:
        raise BadTopic("topic must be a non-empty string")
    if text == TopicKind.ALL:
        return ALL
    if text == TopicKind.ALERTS:
        return ALERTS
    kind_text, sep, ident = text.partition(":")
    try:
        kind = TopicKind(kind_text)
    except ValueError:
        raise BadTopic(f"unknown topic kind {kind_text!r}") from None
    if kind in WHOLE_KINDS or not sep or not ident or len(ident) > MAX_ID_LENGTH:
        raise BadTopic(f"topic {text!r} is not all, alerts, route:ID, run:ID or vehicle:ID")
    return Topic(kind, ident)


def group_name(topic: Topic) -> str:
    if topic.kind in WHOLE_KINDS:
        return f"{GROUP_PREFIX}{topic.kind}"
    ident = topic.ident
    if not _SAFE_ID.fullmatch(ident):
        ident = "h" + hashlib.sha1(ident.encode()).hexdigest()
    return f"{GROUP_PREFIX}{topic.kind}.{ident}"


def vehicle_topic(vehicle_id: str) -> Topic:
    return Topic(TopicKind.VEHICLE, vehicle_id)


def run_topic(run_id: str) -> Topic:
    return Topic(TopicKind.RUN, run_id)


def route_topic(route_id: str) -> Topic:
    return Topic(TopicKind.ROUTE, route_id)


def topics_of(
    vehicle_id: str | None, run_id: str | None = None, route_id: str | None = None
) -> list[Topic]:
    """Every topic a message about this vehicle/run/route belongs to, ``all`` first."""
    topics = [ALL]
    if vehicle_id:
        topics.append(vehicle_topic(vehicle_id))
    if run_id:
        topics.append(run_topic(run_id))
    if route_id:
        topics.append(route_topic(route_id))
    return topics


def alert_topics(route_ids: Iterable[str]) -> list[Topic]:
    """Every topic a service alert's message belongs to: ``all``, ``alerts`` and the routes
    it names (stops have no topic of their own; the message names them)."""
    return [ALL, ALERTS, *(route_topic(route_id) for route_id in dict.fromkeys(route_ids))]


ALL_GROUP = group_name(ALL)
