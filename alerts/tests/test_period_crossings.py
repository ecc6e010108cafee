"""An alert whose period begins or ends with nobody editing it is told to live clients by
the next Alerts feed build (``alerts.feed``), once, with ``activated`` or ``deactivated``."""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.feed import alerts_feed_publish
from alerts.services import alert_create
from alerts.values import ActivePeriod, AlertInput, InformedEntity, Translation
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import Actor

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000  # POSIX s


def at(offset_s: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + offset_s, dt.UTC)


def create(gtfs_feed, header: str, *periods: tuple[int, int]):
    return alert_create(
        actor=Actor(ActorRole.DISPATCHER),
        data=AlertInput(
            header=(Translation("", header),),
            informed_entities=(InformedEntity(route_id="R1"),),
            active_periods=tuple(ActivePeriod(at(start), at(end)) for start, end in periods),
        ),
    )


def told(heard) -> list[tuple[int, str, bool]]:
    return [(change.alert_id, change.action, change.active) for change in heard.alerts]


def test_a_period_beginning_and_ending_is_told_once_each(gtfs_feed, redis_client, heard):
    evening = create(gtfs_feed, "Evening works", (100, 200))
    always = create(gtfs_feed, "Stop moved", (-1000, 10_000))
    alerts_feed_publish(redis_client, now=T0)  # the first build: nothing to compare with
    heard.alerts.clear()

    alerts_feed_publish(redis_client, now=T0 + 50)
    assert told(heard) == []

    alerts_feed_publish(redis_client, now=T0 + 100)  # the period begins at T0 + 100
    assert told(heard) == [(evening.pk, "activated", True)]
    assert heard.alerts[0].route_ids == ("R1",)

    alerts_feed_publish(redis_client, now=T0 + 150)
    alerts_feed_publish(redis_client, now=T0 + 250)  # ended at T0 + 200
    assert told(heard) == [(evening.pk, "activated", True), (evening.pk, "deactivated", False)]
    assert always.pk not in {alert_id for alert_id, _, _ in told(heard)}


def test_a_dispatcher_s_end_is_not_told_again_by_the_build(gtfs_feed, redis_client, heard):
    from alerts.services import alert_end

    alert = create(gtfs_feed, "Lift out of order", (100, 200))
    alerts_feed_publish(redis_client, now=T0)
    alert_end(actor=Actor(ActorRole.DISPATCHER), alert_id=alert.pk)
    heard.alerts.clear()

    alerts_feed_publish(redis_client, now=T0 + 150)

    assert told(heard) == []
