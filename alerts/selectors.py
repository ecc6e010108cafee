"""Reads of service alerts: lists by state, one alert, its values and its summary.

Every list prefetches periods, informed entities and translations: a constant number of
queries however many alerts. The states are ``values.alert_state``'s, written here once
more as SQL so that a page of a list is one query (``state_filter``); the tests hold the
two to the same cases. ``alert_summaries_active`` is what the live map's snapshot shows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from django.db.models import Exists, OuterRef, Q, QuerySet

from alerts.models import AlertActivePeriod, ServiceAlert
from alerts.values import (
    ActivePeriod,
    AlertInput,
    AlertState,
    InformedEntity,
    PublishedAlert,
    TextField,
    Translation,
    alert_state,
)
from databus.notify import AlertChanged
from schedule_engine.models import Trip

PARTS = ("active_periods", "informed_entities", "translations")


def _with_parts(alerts: QuerySet[ServiceAlert]) -> QuerySet[ServiceAlert]:
    return alerts.select_related("created_by", "ended_by").prefetch_related(*PARTS)


def state_filter(state: AlertState, *, now: dt.datetime) -> Q:
    """The alerts in ``state`` at ``now`` (``values.alert_state`` in SQL)."""
    periods = AlertActivePeriod.objects.filter(alert=OuterRef("pk"))
    has_periods = Exists(periods)
    contains_now = Exists(
        periods.filter(Q(start=None) | Q(start__lte=now), Q(end=None) | Q(end__gt=now))
    )
    ahead = Exists(periods.filter(start__gt=now))
    if state is AlertState.ENDED:
        return ~Q(ended_at=None)
    open_ = Q(ended_at=None)
    if state is AlertState.ACTIVE:
        return open_ & (~has_periods | contains_now)
    if state is AlertState.UPCOMING:
        return open_ & has_periods & ~contains_now & ahead
    return open_ & has_periods & ~contains_now & ~ahead  # EXPIRED


def alert_list(*, state: AlertState | None, now: dt.datetime) -> QuerySet[ServiceAlert]:
    """Alerts in ``state`` (None: all), newest first."""
    alerts = ServiceAlert.objects.all()
    if state is not None:
        alerts = alerts.filter(state_filter(state, now=now))
    return _with_parts(alerts).order_by("-created_at", "-pk")


def alerts_active(*, now: dt.datetime) -> list[ServiceAlert]:
    """The alerts riders are told of at ``now``: not ended, a period containing now or none."""
    return list(alert_list(state=AlertState.ACTIVE, now=now))


def alerts_published(*, now: dt.datetime) -> list[PublishedAlert]:
    """What the Alerts feed holds at ``now``: every alert active or upcoming, by id."""
    alerts = ServiceAlert.objects.filter(
        state_filter(AlertState.ACTIVE, now=now) | state_filter(AlertState.UPCOMING, now=now)
    )
    return [
        PublishedAlert(alert.pk, alert_input_of(alert))
        for alert in _with_parts(alerts).order_by("pk")
    ]


def alert_get(*, alert_id: int) -> ServiceAlert | None:
    return _with_parts(ServiceAlert.objects.filter(pk=alert_id)).first()


def alert_input_of(alert: ServiceAlert) -> AlertInput:
    """The alert's content as the value the rules and the builder take (prefetched parts)."""
    texts: dict[str, list[Translation]] = {field.value: [] for field in TextField}
    for row in alert.translations.all():
        texts[row.field].append(Translation(row.language, row.text))
    return AlertInput(
        header=tuple(texts[TextField.HEADER]),
        description=tuple(texts[TextField.DESCRIPTION]),
        url=tuple(texts[TextField.URL]),
        informed_entities=tuple(
            InformedEntity(
                agency_id=row.agency_id,
                route_id=row.route_id,
                route_type=row.route_type,
                direction_id=row.direction_id,
                stop_id=row.stop_id,
                trip_id=row.trip_id,
                trip_start_date=row.trip_start_date,
            )
            for row in alert.informed_entities.all()
        ),
        active_periods=tuple(
            ActivePeriod(row.start, row.end) for row in alert.active_periods.all()
        ),
        cause=alert.cause,
        effect=alert.effect,
        severity=alert.severity,
    )


def alert_state_of(alert: ServiceAlert, *, now: dt.datetime) -> AlertState:
    periods = [ActivePeriod(row.start, row.end) for row in alert.active_periods.all()]
    return alert_state(periods, ended=alert.ended_at is not None, now=now)


def trip_routes_get(trip_ids: Iterable[str]) -> dict[str, str]:
    """The route of each of these trips in the current GTFS version (one query)."""
    trip_ids = set(trip_ids)
    if not trip_ids:
        return {}
    trips = Trip.objects.filter(feed__is_current=True, trip_id__in=trip_ids)
    return dict(trips.values_list("trip_id", "route_id"))


def _trip_ids(alerts: Iterable[ServiceAlert]) -> set[str]:
    return {row.trip_id for alert in alerts for row in alert.informed_entities.all() if row.trip_id}


def alert_summary(
    alert: ServiceAlert,
    action: str,
    *,
    now: dt.datetime | None = None,
    trip_routes: Mapping[str, str] | None = None,
) -> AlertChanged:
    """The notification of ``alert`` (prefetched parts) after ``action``, as of ``now``.

    ``route_ids``: the routes its entities name, and the routes of the trips they name (a
    detour names the trip: the map marks its route); ``trip_routes`` if already read."""
    content = alert_input_of(alert)
    moment = dt.datetime.now(dt.UTC) if now is None else now
    entities = content.informed_entities
    if trip_routes is None:
        trip_routes = trip_routes_get(_trip_ids([alert]))
    routes = (e.route_id or trip_routes.get(e.trip_id, "") for e in entities)
    return AlertChanged(
        alert_id=alert.pk,
        action=action,
        active=alert_state_of(alert, now=moment) is AlertState.ACTIVE,
        cause=content.cause,
        effect=content.effect,
        severity=content.severity,
        header=content.default_header(),
        route_ids=tuple(dict.fromkeys(route for route in routes if route)),
        stop_ids=tuple(dict.fromkeys(e.stop_id for e in entities if e.stop_id)),
    )


# Actions of the alerts whose period began or ended with no change by anyone.
ACTIVATED = "activated"
DEACTIVATED = "deactivated"


def alert_summaries_crossing(*, since: dt.datetime, now: dt.datetime) -> list[AlertChanged]:
    """The open alerts with a period starting or ending in (``since``, ``now``]: riders are
    told of them from now (``activated``) or no longer (``deactivated``)."""
    periods = AlertActivePeriod.objects.filter(alert=OuterRef("pk"))
    crossing = Exists(
        periods.filter(Q(start__gt=since, start__lte=now) | Q(end__gt=since, end__lte=now))
    )
    alerts = list(_with_parts(ServiceAlert.objects.filter(crossing, ended_at=None)).order_by("pk"))
    routes = trip_routes_get(_trip_ids(alerts))
    summaries = (alert_summary(alert, "", now=now, trip_routes=routes) for alert in alerts)
    return [
        dataclasses.replace(summary, action=ACTIVATED if summary.active else DEACTIVATED)
        for summary in summaries
    ]


def alert_summaries_active(*, now: dt.datetime) -> list[AlertChanged]:
    """Every active alert's summary (action ``"active"``): the live map's snapshot."""
    alerts = alerts_active(now=now)
    routes = trip_routes_get(_trip_ids(alerts))
    return [alert_summary(alert, "active", now=now, trip_routes=routes) for alert in alerts]
