"""Notifications of changes, from the app that makes a change to whoever listens.

"Change, then notify": a service commits its change, then calls ``run_state_changed``,
``feed_published`` or ``alert_changed`` with the facts, as frozen values. They go to the
one listener that ``install`` registered: ``realtime_engine`` installs its live WebSocket
fan-out in its ``AppConfig.ready``. So ``runs`` and ``schedule_engine``, which make the
changes, never import the realtime engine, which sits above them. Without a listener (before Django
starts, or in a process without ``realtime_engine``) a notification does nothing.

Imports only the standard library: every app may notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RunStateChanged:
    """A run's lifecycle transition was committed."""

    run_id: str
    state: str
    previous_state: str
    event: str
    vehicle_id: str | None
    route_id: str | None
    trip_id: str | None


@dataclass(frozen=True)
class FeedPublished:
    """A GTFS-RT feed was rebuilt and stored."""

    feed: str
    header_timestamp: int
    entities: int


@dataclass(frozen=True)
class AlertChanged:
    """A service alert was created, changed or ended (committed).

    ``active``: whether riders are told of it now (an ended alert, or one whose periods are
    all past or all ahead, is not). ``route_ids`` and ``stop_ids``: what its informed
    entities name, so a live map can mark them; ``header``: its header in the default
    language.
    """

    alert_id: int
    action: str  # "created", "updated" or "ended"
    active: bool
    cause: str  # the GTFS-RT Cause name
    effect: str  # the GTFS-RT Effect name
    severity: str  # the GTFS-RT SeverityLevel name
    header: str
    route_ids: tuple[str, ...] = ()
    stop_ids: tuple[str, ...] = ()


class Listener(Protocol):
    def run_state_changed(self, change: RunStateChanged) -> None: ...

    def feed_published(self, feed: FeedPublished) -> None: ...

    def alert_changed(self, change: AlertChanged) -> None: ...


_listener: Listener | None = None


def install(listener: Listener | None) -> Listener | None:
    """Make ``listener`` hear every notification from now on (``None``: nobody).

    Returns the listener it replaces, so that a test can put it back.
    """
    global _listener
    previous, _listener = _listener, listener
    return previous


def run_state_changed(change: RunStateChanged) -> None:
    if _listener is not None:
        _listener.run_state_changed(change)


def feed_published(feed: FeedPublished) -> None:
    if _listener is not None:
        _listener.feed_published(feed)


def alert_changed(change: AlertChanged) -> None:
    if _listener is not None:
        _listener.alert_changed(change)
