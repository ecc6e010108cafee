"""Pure GTFS-Realtime Alerts builder: published alerts (values) → ``FeedMessage``.

The header is the other feeds' (``schedule_engine.feeds.builders``): version 2.0,
FULL_DATASET, a timestamp that never goes below the previous feed's. One entity per alert,
id ``alert-<pk>``, in id order (the same alerts give the same bytes): its active periods
as POSIX seconds, in both ``active_period`` and ``communication_period`` (see
``_fill_alert``), its informed entities (a trip as a TripDescriptor with the trip id, its
start date and route as given), cause, effect, severity, and header, description and URL
as TranslatedStrings (``language`` set only when the dispatcher gave one).

One alert is the unit of failure, as in the other builders: protobuf refuses a value its
field cannot hold with ``ValueError``/``TypeError``; that alert is left out and reported to
``on_skip`` while the rest of the feed is built. The rules (``alerts.validation``) keep
values within range; this holds if one slips through anyway.

Imports only the GTFS-RT bindings, the standard library, ``alerts.values`` and the pure
builders' header helpers (an import-linter contract checks it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from google.transit import gtfs_realtime_pb2 as rt

from alerts.values import ActivePeriod, InformedEntity, PublishedAlert, Translation
from schedule_engine.feeds.builders import GTFS_RT_VERSION, header_timestamp

ENTITY_PREFIX = "alert-"

SkipHandler = Callable[[int, str], None]  # (alert id, why)


def alert_entity_id(alert_id: int) -> str:
    return f"{ENTITY_PREFIX}{alert_id}"


def build_alerts(
    alerts: Iterable[PublishedAlert],
    *,
    now: int,
    previous: int | None = None,
    on_skip: SkipHandler | None = None,
) -> rt.FeedMessage:
    """The Alerts feed of ``alerts`` at ``now`` (POSIX s); ``previous``: the stored header's."""
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = GTFS_RT_VERSION
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = header_timestamp(now, previous)
    for published in sorted(alerts, key=lambda p: p.alert_id):
        entity = feed.entity.add()
        try:
            entity.id = alert_entity_id(published.alert_id)
            _fill_alert(entity.alert, published)
        except (ValueError, TypeError) as error:
            del feed.entity[-1]
            if on_skip is not None:
                on_skip(published.alert_id, f"{type(error).__name__}: {error}")
    return feed


def _fill_alert(message: rt.Alert, published: PublishedAlert) -> None:
    alert = published.alert
    for period in alert.active_periods:
        # The same ranges twice: communication_period is the field the current spec
        # names for "when riders are told", active_period (deprecated in its favour) the
        # one most consumers still read (OpenTripPlanner, OneBusAway).
        _fill_period(message.active_period.add(), period)
        _fill_period(message.communication_period.add(), period)
    for entity in alert.informed_entities:
        _fill_selector(message.informed_entity.add(), entity)
    message.cause = rt.Alert.Cause.Value(alert.cause)
    message.effect = rt.Alert.Effect.Value(alert.effect)
    message.severity_level = rt.Alert.SeverityLevel.Value(alert.severity)
    _fill_text(message.header_text, alert.header)
    _fill_text(message.description_text, alert.description)
    _fill_text(message.url, alert.url)


def _posix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _fill_period(message: rt.TimeRange, period: ActivePeriod) -> None:
    if period.start is not None:
        message.start = _posix(period.start)
    if period.end is not None:
        message.end = _posix(period.end)


def _fill_selector(message: rt.EntitySelector, entity: InformedEntity) -> None:
    if entity.agency_id:
        message.agency_id = entity.agency_id
    if entity.route_id:
        message.route_id = entity.route_id
    if entity.route_type is not None:
        message.route_type = entity.route_type
    if entity.direction_id is not None:
        message.direction_id = entity.direction_id
    if entity.stop_id:
        message.stop_id = entity.stop_id
    if entity.trip_id:
        trip = message.trip
        trip.trip_id = entity.trip_id
        if entity.route_id:
            trip.route_id = entity.route_id  # the same route the selector names
        if entity.trip_start_date is not None:
            day = entity.trip_start_date
            trip.start_date = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        # Explicit, as in the other feeds: consumers and validators want it set.
        trip.schedule_relationship = rt.TripDescriptor.SCHEDULED


def _fill_text(message: rt.TranslatedString, translations: Sequence[Translation]) -> None:
    for translation in translations:
        added = message.translation.add()
        added.text = translation.text
        if translation.language:
            added.language = translation.language
