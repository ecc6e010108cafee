"""MQTT topics of the ingress contract: the subscription filters and the topic router.

Topics are ``{root}/vehicle/{vehicle_id}/{leaf}`` (DESIGN.md); the root is
``settings.MQTT_TOPIC_ROOT`` so tests and tenants do not hear each other. Read by
the consumer (subscribe, route) and ``manage.py dlq``. Pure.
"""

from __future__ import annotations

from enum import StrEnum

from runs.domain.telemetry.limits import VEHICLE_ID_RULE, is_valid_vehicle_id
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected


class TelemetryLeaf(StrEnum):
    POSITION = "position"
    OCCUPANCY = "occupancy"
    # Decommissioned: still published by old firmware, counted and ignored.
    PROGRESSION = "progression"


def subscription_filters(root: str, shared_group: str = "") -> list[str]:
    """One filter catching every vehicle leaf, so that an unknown leaf is dead-lettered
    (visible to operators) rather than silently never delivered."""
    if not root or any(char in root for char in "+#") or root.startswith("$"):
        raise ValueError(f"MQTT topic root {root!r} must be a plain topic prefix")
    topic_filter = f"{root}/vehicle/+/+"
    return [f"$share/{shared_group}/{topic_filter}" if shared_group else topic_filter]


def stale_filters(current: list[str], remembered: set[str], root: str) -> list[str]:
    """Filters a resumed session may still hold that the consumer no longer wants.

    MQTT cannot list a session's subscriptions: these are the ones this client id is
    remembered to have subscribed, plus, when it now shares, the direct form (so a
    switch to a shared group works even without that memory). Unsubscribing a filter
    the session does not hold is harmless."""
    candidates = set(remembered)
    if any(topic_filter.startswith("$share/") for topic_filter in current):
        candidates.update(subscription_filters(root))
    return sorted(candidates - set(current))


def vehicle_topic(root: str, vehicle_id: str, leaf: TelemetryLeaf) -> str:
    return f"{root}/vehicle/{vehicle_id}/{leaf}"


def parse_topic(topic: str, root: str) -> tuple[str, TelemetryLeaf]:
    """(vehicle_id, leaf) of a telemetry topic; raises ``TelemetryRejected``."""
    prefix = f"{root}/vehicle/"
    parts = topic[len(prefix) :].split("/") if topic.startswith(prefix) else []
    if len(parts) != 2:
        raise TelemetryRejected(RejectReason.UNKNOWN_TOPIC, f"topic {topic!r} is not {prefix}…")
    vehicle_id, leaf = parts
    try:
        parsed_leaf = TelemetryLeaf(leaf)
    except ValueError:
        raise TelemetryRejected(
            RejectReason.UNKNOWN_TOPIC, f"unknown telemetry leaf {leaf!r}"
        ) from None
    if not is_valid_vehicle_id(vehicle_id):
        raise TelemetryRejected(
            RejectReason.INVALID_VEHICLE_ID,
            f"vehicle id {vehicle_id[:80]!r} must be {VEHICLE_ID_RULE}",
        )
    return vehicle_id, parsed_leaf
