"""Service alerts on the live stream: an alert's view, and which alerts a topic's snapshot holds.

Alerts are public information (riders read them in the Alerts feed), so every role sees
them: ``all`` and ``alerts`` carry every active alert, ``route:{id}`` those naming that
route; ``run:`` and ``vehicle:`` carry none (their snapshots have no ``alerts``). The
values come from ``databus.notify.AlertChanged``, as the alerts app sends them on each
change and as ``alerts.selectors.alert_summaries_active`` lists the active ones. Which
topics an alert's message goes to is ``groups.alert_topics``. Pure: used by ``fanout``
(live messages) and ``consumer`` / ``snapshot`` (the snapshot's ``alerts``).
"""

from __future__ import annotations

from collections.abc import Iterable

from databus.notify import AlertChanged
from realtime_engine.ws.groups import Topic, TopicKind
from realtime_engine.ws.messages import AlertView

# The topics whose snapshot lists alerts (a route's: those naming it).
ALERT_TOPIC_KINDS = frozenset({TopicKind.ALL, TopicKind.ALERTS, TopicKind.ROUTE})


def alert_view(change: AlertChanged) -> AlertView:
    return AlertView(
        alert_id=change.alert_id,
        active=change.active,
        cause=change.cause,
        effect=change.effect,
        severity=change.severity,
        header=change.header,
        route_ids=list(change.route_ids),
        stop_ids=list(change.stop_ids),
    )


def carries_alerts(topic: Topic) -> bool:
    """Whether ``topic``'s snapshot lists alerts (else there is no need to read them)."""
    return topic.kind in ALERT_TOPIC_KINDS


def snapshot_alerts(topic: Topic, active: Iterable[AlertChanged]) -> list[AlertView] | None:
    """The snapshot's ``alerts`` for ``topic`` out of the active ones, in the order given;
    ``None`` for a topic that carries no alerts."""
    if not carries_alerts(topic):
        return None
    if topic.kind is TopicKind.ROUTE:
        active = (alert for alert in active if topic.ident in alert.route_ids)
    return [alert_view(alert) for alert in active]
