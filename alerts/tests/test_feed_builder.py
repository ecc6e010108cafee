"""The Alerts builder, pure: published alerts → a FeedMessage consumers read back."""

from __future__ import annotations

import datetime as dt

from google.transit import gtfs_realtime_pb2 as rt

from alerts.feed_builder import build_alerts
from alerts.values import ActivePeriod, AlertInput, InformedEntity, PublishedAlert, Translation

START = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=3)


def alert(**fields) -> AlertInput:
    given = {
        "header": (Translation("", "Detour"), Translation("es", "Desvío")),
        "informed_entities": (
            InformedEntity(agency_id="A1"),
            InformedEntity(route_id="R1", direction_id=1),
            InformedEntity(route_type=3),
            InformedEntity(stop_id="S2"),
            InformedEntity(route_id="R1", trip_id="T1", trip_start_date=dt.date(2026, 12, 2)),
        ),
        "active_periods": (ActivePeriod(START, END), ActivePeriod(None, START)),
    }
    return AlertInput(**{**given, **fields})


def parsed(message: rt.FeedMessage) -> rt.FeedMessage:
    copy = rt.FeedMessage()
    copy.ParseFromString(message.SerializeToString())
    return copy


def test_each_alert_is_one_entity_with_everything_the_dispatcher_gave():
    message = parsed(
        build_alerts(
            [
                PublishedAlert(7, alert(effect="DETOUR", cause="STRIKE", severity="SEVERE")),
                PublishedAlert(2, alert(url=(Translation("en", "https://example.org"),))),
            ],
            now=1_800_000_000,
        )
    )

    assert message.header.gtfs_realtime_version == "2.0"
    assert message.header.incrementality == rt.FeedHeader.FULL_DATASET
    assert message.header.timestamp == 1_800_000_000
    assert [e.id for e in message.entity] == ["alert-2", "alert-7"]  # by id
    seven = message.entity[1].alert
    assert (seven.effect, seven.cause, seven.severity_level) == (
        rt.Alert.DETOUR,
        rt.Alert.STRIKE,
        rt.Alert.SEVERE,
    )
    periods = [
        (p.HasField("start"), p.start, p.HasField("end"), p.end) for p in seven.active_period
    ]
    assert periods == [
        (True, int(START.timestamp()), True, int(END.timestamp())),
        (False, 0, True, int(START.timestamp())),
    ]
    assert list(seven.communication_period) == list(seven.active_period)
    agency, direction, route_type, stop, trip = seven.informed_entity
    assert agency.agency_id == "A1" and not agency.HasField("route_id")
    assert (direction.route_id, direction.direction_id) == ("R1", 1)
    assert route_type.route_type == 3 and not route_type.HasField("trip")
    assert stop.stop_id == "S2"
    assert (trip.route_id, trip.trip.trip_id, trip.trip.route_id, trip.trip.start_date) == (
        "R1",
        "T1",
        "R1",
        "20261202",
    )
    assert [
        (t.HasField("language"), t.language, t.text) for t in seven.header_text.translation
    ] == [
        (False, "", "Detour"),
        (True, "es", "Desvío"),
    ]
    assert not seven.HasField("description_text") and not seven.HasField("url")
    assert message.entity[0].alert.url.translation[0].language == "en"


def test_the_header_timestamp_never_goes_back_and_no_alerts_is_an_empty_feed():
    message = build_alerts([], now=100, previous=200)
    assert message.header.timestamp == 200 and len(message.entity) == 0


def test_an_alert_protobuf_cannot_hold_is_left_out_and_reported():
    skipped = []
    bad = alert(informed_entities=(InformedEntity(route_type=2**40),))
    message = build_alerts(
        [PublishedAlert(1, bad), PublishedAlert(2, alert())],
        now=100,
        on_skip=lambda alert_id, why: skipped.append(alert_id),
    )
    assert [e.id for e in message.entity] == ["alert-2"]
    assert skipped == [1]
