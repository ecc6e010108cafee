"""The pure parts of live updates: topics and group names, client messages, fan-out planning."""

from __future__ import annotations

import json

import pytest

from realtime_engine.ws.fanout import plan_position_messages
from realtime_engine.ws.groups import (
    ALERTS,
    ALL,
    BadTopic,
    Topic,
    TopicKind,
    alert_topics,
    parse_topic,
)
from realtime_engine.ws.messages import (
    DETAIL_MAX_CHARS,
    ECHO_MAX_CHARS,
    ClientError,
    ClientType,
    ErrorCode,
    VehicleUpdate,
    decode_client,
    error_message,
)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("all", ALL),
        ("alerts", ALERTS),
        ("route:R10", Topic(TopicKind.ROUTE, "R10")),
        ("run:5f0c-1", Topic(TopicKind.RUN, "5f0c-1")),
        ("vehicle:bus.7", Topic(TopicKind.VEHICLE, "bus.7")),
        ("route:A:B", Topic(TopicKind.ROUTE, "A:B")),  # GTFS ids may hold colons
    ],
)
def test_topics_parse_and_print_back(text, topic):
    assert parse_topic(text) == topic
    assert str(topic) == text


@pytest.mark.parametrize(
    "text", ["", "everything", "all:x", "alerts:R1", "route:", "planet:mars", None, 7]
)
def test_bad_topics_are_refused(text):
    with pytest.raises(BadTopic):
        parse_topic(text)


def test_group_names_are_valid_channel_layer_names_and_distinct():
    odd = [
        Topic(TopicKind.ROUTE, "A:B"),
        Topic(TopicKind.ROUTE, "Línea 1"),
        Topic(TopicKind.ROUTE, "A_B"),
    ]
    names = [t.group for t in odd]
    assert len(set(names)) == 3
    assert ALERTS.group not in {ALL.group, Topic(TopicKind.ROUTE, "alerts").group}
    for name in [*names, ALL.group, ALERTS.group]:
        assert len(name) < 100 and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)


MAX_BYTES = 4096


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "bad_json"),
        ("[1]", "bad_message"),
        ('{"type": 3}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe", "topic": 5}', "bad_topic"),
        ('{"type": "subscribe", "topic": "all", "extra": 1}', "bad_message"),
        (None, "bad_message"),
        # Nesting is refused at its first bracket, wherever it is, never parsed recursively.
        ("[" * 4000, "bad_message"),
        ('{"type": "ping", "topic": ' + "[" * 4000 + "}", "bad_topic"),
        ('{"type": "ping", "x": ' + "[" * 4000 + "}", "bad_message"),
        ('{"type": "ping", "x": ' + '{"a":' * 800 + "}", "bad_message"),
        # Size is checked first, in UTF-8 bytes: 2,000 two-byte characters are 4,000 bytes.
        ('{"type": "' + "x" * MAX_BYTES + '"}', "frame_too_large"),
        ('{"type": "' + "é" * 2100 + '"}', "frame_too_large"),
        ("[" * 1_000_000, "frame_too_large"),
    ],
)
def test_bad_client_messages_say_what_is_wrong(frame, code):
    with pytest.raises(ClientError) as error:
        decode_client(frame, max_bytes=MAX_BYTES)
    assert error.value.code == code
    assert len(error.value.detail) < 200


def test_an_unknown_type_is_echoed_clipped():
    with pytest.raises(ClientError) as error:
        decode_client('{"type": "' + "y" * 4000 + '"}', max_bytes=MAX_BYTES)
    assert error.value.code == "unknown_type"
    assert "y" * ECHO_MAX_CHARS not in error.value.detail
    assert "y" * (ECHO_MAX_CHARS - 1) + "…" in error.value.detail


def test_error_details_are_bounded_whatever_went_in():
    assert len(error_message(ErrorCode.BAD_TOPIC, "z" * 100_000).detail) == DETAIL_MAX_CHARS
    assert error_message(ErrorCode.BAD_TOPIC, "short").detail == "short"


def test_client_messages_decode():
    message = decode_client('{"type": "subscribe", "topic": "all"}', max_bytes=MAX_BYTES)
    assert (message.type, message.topic) == (ClientType.SUBSCRIBE, "all")
    assert decode_client('{"type": "ping"}', max_bytes=MAX_BYTES).type is ClientType.PING
    # A frame of exactly the limit is read.
    padded = '{"type": "ping"' + " " * (MAX_BYTES - 16) + "}"
    assert len(padded.encode()) == MAX_BYTES
    assert decode_client(padded, max_bytes=MAX_BYTES).type is ClientType.PING


def test_position_messages_go_only_to_watched_groups_each_with_its_vehicles():
    on_route = VehicleUpdate(vehicle_id="a", run_id="r1", route_id="R", latitude=1.0, longitude=2.0)
    alone = VehicleUpdate(vehicle_id="b", latitude=3.0, longitude=4.0)
    watched = {"live.all", "live.route.R", "live.vehicle.b", "live.run.other"}
    planned = plan_position_messages([on_route, alone], watched, sent_at=10.0)
    assert set(planned) == {"live.all", "live.route.R", "live.vehicle.b"}
    decoded = {group: json.loads(text) for group, text in planned.items()}
    assert [v["vehicle_id"] for v in decoded["live.all"]["vehicles"]] == ["a", "b"]
    assert decoded["live.route.R"]["topic"] == "route:R"
    assert [v["vehicle_id"] for v in decoded["live.route.R"]["vehicles"]] == ["a"]
    assert [v["vehicle_id"] for v in decoded["live.vehicle.b"]["vehicles"]] == ["b"]
    assert plan_position_messages([on_route], set(), sent_at=10.0) == {}


def test_an_alert_goes_to_all_alerts_and_each_route_it_names_once():
    assert [str(t) for t in alert_topics(["R1", "R2", "R1"])] == [
        "all",
        "alerts",
        "route:R1",
        "route:R2",
    ]
    assert alert_topics([]) == [ALL, ALERTS]  # an agency-wide or stop-only alert
