"""The alert states in SQL agree with ``values.alert_state``; lists cost a constant number of
queries; the live map's snapshot summarises the active alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import selectors
from alerts.services import alert_create, alert_end
from alerts.values import ActivePeriod, AlertInput, AlertState, InformedEntity, Translation
from runs.services.actors import actor_for_user

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

# Periods around NOW, by the state ``values.alert_state`` gives them.
CASES: dict[str, tuple[tuple[ActivePeriod, ...], AlertState]] = {
    "no periods": ((), AlertState.ACTIVE),
    "open start, ends later": ((ActivePeriod(None, NOW + HOUR),), AlertState.ACTIVE),
    "started, open end": ((ActivePeriod(NOW - HOUR, None),), AlertState.ACTIVE),
    "starts exactly now": ((ActivePeriod(NOW, NOW + HOUR),), AlertState.ACTIVE),
    "ends exactly now": ((ActivePeriod(NOW - HOUR, NOW),), AlertState.EXPIRED),
    "all past": ((ActivePeriod(NOW - 2 * HOUR, NOW - HOUR),), AlertState.EXPIRED),
    "ahead": ((ActivePeriod(NOW + HOUR, None),), AlertState.UPCOMING),
    "past and ahead": (
        (ActivePeriod(NOW - 2 * HOUR, NOW - HOUR), ActivePeriod(NOW + HOUR, NOW + 2 * HOUR)),
        AlertState.UPCOMING,
    ),
    "past and current": (
        (ActivePeriod(NOW - 2 * HOUR, NOW - HOUR), ActivePeriod(None, NOW + HOUR)),
        AlertState.ACTIVE,
    ),
}


def content(periods=(), stop_id: str = "S2", header: str = "Stop S2 closed") -> AlertInput:
    return AlertInput(
        header=(Translation("", header),),
        informed_entities=(InformedEntity(route_id="R1"), InformedEntity(stop_id=stop_id)),
        active_periods=periods,
        effect="STOP_MOVED",
    )


@pytest.fixture
def actor(dispatcher, gtfs_feed):
    return actor_for_user(dispatcher)


@pytest.mark.django_db
def test_the_states_in_sql_are_the_states_of_the_periods(actor):
    ids = {
        name: alert_create(actor=actor, data=content(periods)).pk
        for name, (periods, _) in CASES.items()
    }
    ended = alert_create(actor=actor, data=content()).pk
    alert_end(actor=actor, alert_id=ended)

    for state in AlertState:
        listed = {alert.pk for alert in selectors.alert_list(state=state, now=NOW)}
        expected = {ids[name] for name, (_, s) in CASES.items() if s is state}
        if state is AlertState.ENDED:
            expected = {ended}
        assert listed == expected, state
        for alert in selectors.alert_list(state=state, now=NOW):
            assert selectors.alert_state_of(alert, now=NOW) is state
    published = {p.alert_id for p in selectors.alerts_published(now=NOW)}
    assert published == {ids[n] for n, (_, s) in CASES.items() if s.published}


@pytest.mark.django_db
def test_a_list_costs_the_same_queries_for_one_alert_or_many(actor):
    def queries(read) -> int:
        with CaptureQueriesContext(connection) as captured:
            read()
        return len(captured.captured_queries)

    alert_create(actor=actor, data=content())
    reads = (
        lambda: selectors.alerts_published(now=NOW),
        lambda: selectors.alert_summaries_active(now=NOW),
        lambda: [selectors.alert_input_of(a) for a in selectors.alert_list(state=None, now=NOW)],
    )
    one = [queries(read) for read in reads]
    for stop in ("S1", "S3", "S4"):
        alert_create(actor=actor, data=content((ActivePeriod(None, NOW + HOUR),), stop_id=stop))
    assert [queries(read) for read in reads] == one
    assert one[0] <= 4  # the alerts, then their periods, entities and texts


@pytest.mark.django_db
def test_the_snapshot_summarises_the_active_alerts(actor):
    active = alert_create(actor=actor, data=content(header="Stop S2 closed today"))
    alert_create(actor=actor, data=content((ActivePeriod(NOW + HOUR, None),)))

    detour = alert_create(
        actor=actor,
        data=AlertInput(
            header=(Translation("", "Trip T1 skips S3"),),
            informed_entities=(InformedEntity(trip_id="T1", stop_id="S3"),),
            effect="DETOUR",
        ),
    )

    trip, summary = selectors.alert_summaries_active(now=NOW)  # newest first
    assert (trip.alert_id, trip.route_ids, trip.stop_ids) == (detour.pk, ("R1",), ("S3",))
    assert selectors.alert_summary(detour, "updated", now=NOW).route_ids == ("R1",)
    assert summary.alert_id == active.pk
    assert (summary.action, summary.active, summary.effect) == ("active", True, "STOP_MOVED")
    assert (summary.header, summary.route_ids, summary.stop_ids) == (
        "Stop S2 closed today",
        ("R1",),
        ("S2",),
    )
