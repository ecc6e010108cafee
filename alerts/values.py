"""A service alert as values: what a dispatcher says, checked by ``validation`` and published
by ``feed_builder``.

``AlertInput`` is what ``services.alert_create`` and ``alert_update`` take (from the API, the
admin or another app, e.g. a detour), and what ``selectors.alert_input_of`` reads back from
the database, so every path hands the same value to the same rules. Cause, effect and
severity are the GTFS-RT enum names (``gtfs_realtime_pb2.Alert``); texts are translations
by BCP-47 language tag, ``""`` standing for the feed's default language.

``alert_state`` decides, from the periods alone, whether riders are told of an alert now
(active), will be (upcoming), were (expired), or whether a dispatcher ended it.

Pure: imports only the standard library and the GTFS-RT bindings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from google.transit import gtfs_realtime_pb2 as rt

CAUSES: tuple[str, ...] = tuple(rt.Alert.Cause.keys())
EFFECTS: tuple[str, ...] = tuple(rt.Alert.Effect.keys())
SEVERITIES: tuple[str, ...] = tuple(rt.Alert.SeverityLevel.keys())
UNKNOWN_CAUSE = "UNKNOWN_CAUSE"
UNKNOWN_EFFECT = "UNKNOWN_EFFECT"
UNKNOWN_SEVERITY = "UNKNOWN_SEVERITY"
DEFAULT_LANGUAGE = ""


class TextField(StrEnum):
    """The translated texts of an alert (``AlertTranslation.field``)."""

    HEADER = "header"
    DESCRIPTION = "description"
    URL = "url"


@dataclass(frozen=True, slots=True)
class ActivePeriod:
    """When riders are told: ``[start, end)``; ``None`` is open on that side."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def contains(self, now: dt.datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


@dataclass(frozen=True, slots=True)
class InformedEntity:
    """What an alert is about (a GTFS-RT EntitySelector): the fields given combine (and).

    Blank text and ``None`` mean "not given"; at least one of agency, route, route type,
    stop and trip is given. ``direction_id`` narrows a route, ``trip_start_date`` a trip.
    """

    agency_id: str = ""
    route_id: str = ""
    route_type: int | None = None
    direction_id: int | None = None
    stop_id: str = ""
    trip_id: str = ""
    trip_start_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Translation:
    language: str  # a BCP-47 tag; "" = the feed's default language
    text: str


@dataclass(frozen=True, slots=True)
class AlertInput:
    """A whole alert as a dispatcher gives it (create) or leaves it (update)."""

    header: Sequence[Translation]
    informed_entities: Sequence[InformedEntity]
    active_periods: Sequence[ActivePeriod] = ()
    description: Sequence[Translation] = ()
    url: Sequence[Translation] = ()
    cause: str = UNKNOWN_CAUSE
    effect: str = UNKNOWN_EFFECT
    severity: str = UNKNOWN_SEVERITY

    def texts(self, field: TextField) -> Sequence[Translation]:
        return {
            TextField.HEADER: self.header,
            TextField.DESCRIPTION: self.description,
            TextField.URL: self.url,
        }[field]

    def default_header(self) -> str:
        """The header in the default language, else in the first language given."""
        for translation in self.header:
            if translation.language == DEFAULT_LANGUAGE:
                return translation.text
        return self.header[0].text if self.header else ""


@dataclass(frozen=True, slots=True)
class PublishedAlert:
    """An alert as the feed publishes it: its id and its content."""

    alert_id: int
    alert: AlertInput


class AlertState(StrEnum):
    ACTIVE = "active"  # riders are told now
    UPCOMING = "upcoming"  # a period lies ahead (published ahead: riders plan)
    EXPIRED = "expired"  # every period is over
    ENDED = "ended"  # a dispatcher ended it

    @property
    def published(self) -> bool:
        """In the Alerts feed: told now or ahead of time."""
        return self in (AlertState.ACTIVE, AlertState.UPCOMING)


def alert_state(periods: Sequence[ActivePeriod], *, ended: bool, now: dt.datetime) -> AlertState:
    """An alert without periods is active until ended (GTFS-RT: no active_period, always)."""
    if ended:
        return AlertState.ENDED
    if not periods or any(period.contains(now) for period in periods):
        return AlertState.ACTIVE
    if any(period.start is not None and period.start > now for period in periods):
        return AlertState.UPCOMING
    return AlertState.EXPIRED
