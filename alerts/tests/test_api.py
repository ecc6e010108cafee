"""The alerts API end to end: a dispatcher's alert reaches ``/gtfs-rt/alerts.pb``, read back
with the GTFS-RT bindings; the roles, the rules and the states as riders and dispatchers
see them. Each change's feed build runs as the commit queues it (the task, in process)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from google.transit import gtfs_realtime_pb2 as rt

from alerts.models import ServiceAlert
from databus import notify
from runs.tests.fixtures.people import make_user, token_client

ALERTS = "/api/alerts/"
FEED = "/gtfs-rt/alerts.pb"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def detour(**overrides) -> dict:
    body = {
        "cause": "CONSTRUCTION",
        "effect": "DETOUR",
        "severity": "WARNING",
        "header": [{"text": "Route 1 detours around Stop S2"}],
        "description": [{"text": "Board at Stop S3 instead."}],
        "active_periods": [{"start": iso(NOW - dt.timedelta(hours=1))}],
        "informed_entities": [{"route_id": "R1"}, {"stop_id": "S2"}],
    }
    return {**body, **overrides}


def feed(client: Client) -> rt.FeedMessage:
    response = client.get(FEED)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-protobuf"
    message = rt.FeedMessage()
    message.ParseFromString(response.content)
    return message


def by_id(message: rt.FeedMessage) -> dict[str, rt.Alert]:
    return {entity.id: entity.alert for entity in message.entity}


@pytest.fixture
def create(dispatcher_api, committed, gtfs_feed, redis_client):
    def post(body: dict) -> dict:
        with committed():
            response = dispatcher_api.post(ALERTS, body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return post


def test_a_dispatchers_alert_is_in_the_alerts_feed(create, client):
    created = create(detour())

    message = feed(client)
    assert message.header.gtfs_realtime_version == "2.0"
    assert message.header.incrementality == rt.FeedHeader.FULL_DATASET
    alert = by_id(message)[f"alert-{created['id']}"]
    assert rt.Alert.Effect.Name(alert.effect) == "DETOUR"
    assert rt.Alert.Cause.Name(alert.cause) == "CONSTRUCTION"
    assert rt.Alert.SeverityLevel.Name(alert.severity_level) == "WARNING"
    assert [(e.route_id, e.stop_id) for e in alert.informed_entity] == [("R1", ""), ("", "S2")]
    assert alert.header_text.translation[0].text == "Route 1 detours around Stop S2"
    assert not alert.header_text.translation[0].HasField("language")
    assert alert.description_text.translation[0].text == "Board at Stop S3 instead."
    (period,) = alert.active_period
    assert period.start == int((NOW - dt.timedelta(hours=1)).timestamp())
    assert not period.HasField("end")
    assert created["state"] == "active" and created["active"] is True
    assert created["created_by"] == "dispatch"


def test_the_feed_answers_json_and_conditional_requests(create, client):
    create(detour())
    plain = client.get(FEED)

    as_json = client.get(FEED, {"format": "json"}).json()
    assert as_json["entity"][0]["alert"]["effect"] == "DETOUR"
    assert client.get(FEED, HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    assert client.get(FEED, HTTP_IF_MODIFIED_SINCE=plain["Last-Modified"]).status_code == 304


def test_a_trip_with_its_start_date_is_a_trip_descriptor(create, client):
    created = create(
        detour(
            informed_entities=[{"route_id": "R1", "trip_id": "T1", "trip_start_date": "2026-12-07"}]
        )
    )

    (selector,) = by_id(feed(client))[f"alert-{created['id']}"].informed_entity
    assert (selector.route_id, selector.trip.trip_id) == ("R1", "T1")
    assert (selector.trip.route_id, selector.trip.start_date) == ("R1", "20261207")


def test_translations_appear_with_their_language(create, client):
    created = create(
        detour(
            header=[
                {"text": "Detour on route 1"},
                {"language": "es", "text": "Desvío en la ruta 1"},
            ],
            url=[{"language": "en", "text": "https://example.org/detours/1"}],
        )
    )

    alert = by_id(feed(client))[f"alert-{created['id']}"]
    assert {(t.language, t.text) for t in alert.header_text.translation} == {
        ("", "Detour on route 1"),
        ("es", "Desvío en la ruta 1"),
    }
    assert [(t.language, t.text) for t in alert.url.translation] == [
        ("en", "https://example.org/detours/1")
    ]
    assert created["header"][1] == {"language": "es", "text": "Desvío en la ruta 1"}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["plain", "operator"])
def test_only_a_dispatcher_may_create_an_alert(caller, gtfs_feed, operator_api):
    api = operator_api if caller == "operator" else token_client(make_user("plain", None))

    response = api.post(ALERTS, detour(), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not ServiceAlert.objects.exists()


@pytest.mark.django_db
def test_operators_read_the_alerts_and_anonymous_callers_do_not(create, operator_api, client):
    created = create(detour())

    listed = operator_api.get(ALERTS).json()
    assert [alert["id"] for alert in listed["results"]] == [created["id"]]
    assert operator_api.get(f"{ALERTS}{created['id']}/").json()["effect"] == "DETOUR"
    assert operator_api.post(f"{ALERTS}{created['id']}/end/").status_code == 403
    assert client.get(ALERTS).status_code == 401


@pytest.mark.django_db
def test_an_unknown_stop_is_a_400_naming_the_field(dispatcher_api, gtfs_feed):
    body = detour(informed_entities=[{"route_id": "R1"}, {"stop_id": "NOPE"}])

    response = dispatcher_api.post(ALERTS, body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {
        "informed_entities": [
            {},
            {"stop_id": [f"unknown stop 'NOPE' in GTFS version {gtfs_feed.pk}"]},
        ]
    }
    assert not ServiceAlert.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"header": []}, "header"),
        ({"header": [{"text": "x" * 201}]}, "header"),
        ({"header": [{"text": 5}]}, "header"),  # a number is not a text
        ({"header": [{"language": "not a tag", "text": "x"}]}, "header"),
        ({"url": [{"text": "ftp://example.org/x"}]}, "url"),
        ({"effect": "SNOW"}, "effect"),
        ({"informed_entities": []}, "informed_entities"),
        ({"informed_entities": [{"route_type": "3"}]}, "informed_entities"),
        ({"informed_entities": [{"route_type": 99}]}, "informed_entities"),
        ({"informed_entities": [{"direction_id": 1}]}, "informed_entities"),
        ({"informed_entities": [{"trip_id": "T1", "route_id": "R9"}]}, "informed_entities"),
        (
            {"informed_entities": [{"stop_id": "S1", "trip_start_date": "2026-12-07"}]},
            "informed_entities",
        ),
        ({"informed_entities": [{"stop_id": "S1"}] * 101}, "informed_entities"),
        ({"active_periods": [{"start": iso(NOW), "end": iso(NOW)}]}, "active_periods"),
        ({"active_periods": [{"start": "2026-12-01T08:00:00"}]}, "active_periods"),  # no offset
        ({"active_periods": [{}]}, "active_periods"),
        ({"active_periods": [{"start": iso(NOW)}] * 21}, "active_periods"),
    ],
)
def test_a_body_breaking_a_rule_is_a_400_naming_the_field(dispatcher_api, gtfs_feed, change, field):
    response = dispatcher_api.post(ALERTS, detour(**change), format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["code"], list(body["errors"])) == ("invalid", [field])
    assert not ServiceAlert.objects.exists()


def test_ending_an_alert_takes_it_out_of_the_feed(create, dispatcher_api, committed, client, heard):
    kept, ended = create(detour()), create(detour(effect="NO_SERVICE"))

    with committed():
        response = dispatcher_api.post(f"{ALERTS}{ended['id']}/end/")

    assert response.status_code == 200
    assert (response.json()["state"], response.json()["ended_by"]) == ("ended", "dispatch")
    assert set(by_id(feed(client))) == {f"alert-{kept['id']}"}
    assert heard.alerts[-1].action == "ended" and heard.alerts[-1].active is False
    # Ended is final: ending again changes nothing, a change is a conflict.
    assert dispatcher_api.post(f"{ALERTS}{ended['id']}/end/").status_code == 200
    refused = dispatcher_api.patch(f"{ALERTS}{ended['id']}/", {"effect": "DETOUR"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    ended_list = dispatcher_api.get(ALERTS, {"state": "ended"}).json()["results"]
    assert [alert["id"] for alert in ended_list] == [ended["id"]]


def test_an_update_changes_the_feed(create, dispatcher_api, committed, client):
    created = create(detour())

    with committed():
        response = dispatcher_api.patch(
            f"{ALERTS}{created['id']}/",
            {"effect": "STOP_MOVED", "informed_entities": [{"stop_id": "S3"}]},
            format="json",
        )

    assert response.status_code == 200, response.json()
    alert = by_id(feed(client))[f"alert-{created['id']}"]
    assert rt.Alert.Effect.Name(alert.effect) == "STOP_MOVED"
    assert [e.stop_id for e in alert.informed_entity] == ["S3"]
    assert alert.header_text.translation[0].text == "Route 1 detours around Stop S2"  # kept
    bad = dispatcher_api.patch(
        f"{ALERTS}{created['id']}/", {"informed_entities": [{"stop_id": "X"}]}, format="json"
    )
    assert bad.status_code == 400 and "stop_id" in bad.json()["errors"]["informed_entities"][0]
    # What a list's items require is required in a PATCH too: a URL without its text.
    partial = dispatcher_api.patch(
        f"{ALERTS}{created['id']}/", {"url": [{"language": "en"}]}, format="json"
    )
    assert partial.status_code == 400
    assert partial.json()["errors"] == {"url": [{"text": ["This field is required."]}]}


def test_an_upcoming_alert_is_published_ahead_and_an_expired_one_is_not(
    create, dispatcher_api, client
):
    tomorrow = NOW + dt.timedelta(days=1)
    upcoming = create(detour(active_periods=[{"start": iso(tomorrow)}]))
    expired = create(
        detour(
            active_periods=[
                {"start": iso(NOW - dt.timedelta(days=2)), "end": iso(NOW - dt.timedelta(days=1))}
            ]
        )
    )

    assert set(by_id(feed(client))) == {f"alert-{upcoming['id']}"}
    assert (upcoming["state"], upcoming["active"]) == ("upcoming", False)
    assert expired["state"] == "expired"
    assert dispatcher_api.get(ALERTS).json()["count"] == 0  # none active now
    for state, expected in (("upcoming", upcoming), ("expired", expired)):
        page = dispatcher_api.get(ALERTS, {"state": state}).json()
        assert [alert["id"] for alert in page["results"]] == [expected["id"]], state
    assert dispatcher_api.get(ALERTS, {"state": "all"}).json()["count"] == 2
    assert dispatcher_api.get(ALERTS, {"state": "soon"}).status_code == 400


def test_each_change_is_notified_once_committed(
    dispatcher_api,
    gtfs_feed,
    redis_client,
    heard,
    django_capture_on_commit_callbacks,
    tasks_run_here,
):
    with django_capture_on_commit_callbacks() as callbacks:
        created = dispatcher_api.post(ALERTS, detour(), format="json").json()
        assert heard.alerts == []  # not before the commit
    for callback in callbacks:
        callback()

    assert heard.alerts == [
        notify.AlertChanged(
            alert_id=created["id"],
            action="created",
            active=True,
            cause="CONSTRUCTION",
            effect="DETOUR",
            severity="WARNING",
            header="Route 1 detours around Stop S2",
            route_ids=("R1",),
            stop_ids=("S2",),
        )
    ]
    assert [(f.feed, f.entities) for f in heard.feeds] == [("alerts", 1)]


@pytest.mark.django_db
def test_an_unknown_alert_is_a_404(dispatcher_api):
    for path in ("0/", "99999999999999999999/", "abc/", "-1/", "0/end/"):
        method = dispatcher_api.post if path.endswith("end/") else dispatcher_api.get
        response = method(f"{ALERTS}{path}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
