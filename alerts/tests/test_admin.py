"""The service alert editor in the admin: an alert with its inlines goes through the same
rules and service as the API (a bad stop is an error on that row's field; the notification
and the feed build follow), "End now" ends alerts, and writing needs the model permission
and the dispatcher role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from google.transit import gtfs_realtime_pb2 as rt

from alerts.models import ServiceAlert
from runs.services.actors import DISPATCHER_GROUP
from runs.tests.fixtures.people import make_user

CHANGELIST = "/admin/alerts/servicealert/"
ADD = f"{CHANGELIST}add/"
ALERT_PERMISSIONS = ("add_servicealert", "change_servicealert", "view_servicealert")


def staff(username: str, *codenames: str, group: str | None = DISPATCHER_GROUP) -> User:
    user = make_user(username, group)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    """An inline formset's POST fields: its management form and one form per row."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{name}": value for name, value in row.items()})
    return data


def alert_form(
    *, stop_id: str = "S2", effect: str = "DETOUR", texts=None, entities=None, periods=None
) -> dict:
    return {
        "cause": "CONSTRUCTION",
        "effect": effect,
        "severity": "WARNING",
        **inline(
            "translations",
            texts
            or [
                {"field": "header", "language": "", "text": "Stop S2 is closed"},
                {"field": "header", "language": "es", "text": "La parada S2 está cerrada"},
            ],
        ),
        **inline("informed_entities", entities or [{"route_id": "R1"}, {"stop_id": stop_id}]),
        **inline(
            "active_periods",
            periods or [{"start_0": "2026-01-01", "start_1": "08:00:00", "end_0": "", "end_1": ""}],
        ),
    }


@pytest.fixture
def editor(client, gtfs_feed, redis_client):
    client.force_login(staff("desk", *ALERT_PERMISSIONS))
    return client


def test_an_alert_added_with_its_inlines_is_in_the_feed(editor, committed, heard):
    page = editor.get(ADD)
    assert page.status_code == 200
    assert {f.formset.prefix for f in page.context["inline_admin_formsets"]} == {
        "translations",
        "informed_entities",
        "active_periods",
    }
    with committed():
        response = editor.post(ADD, alert_form())

    assert response.status_code == 302, response.context["errors"]
    alert = ServiceAlert.objects.get()
    assert alert.created_by.username == "desk"
    assert [(e.route_id, e.stop_id) for e in alert.informed_entities.all()] == [
        ("R1", ""),
        ("", "S2"),
    ]
    assert [(h.action, h.header, h.stop_ids) for h in heard.alerts] == [
        ("created", "Stop S2 is closed", ("S2",))
    ]
    message = rt.FeedMessage()
    message.ParseFromString(editor.get("/gtfs-rt/alerts.pb").content)
    (entity,) = message.entity
    assert entity.id == f"alert-{alert.pk}"
    assert {t.language for t in entity.alert.header_text.translation} == {"", "es"}
    assert entity.alert.active_period[0].start == 1767254400  # 2026-01-01T08:00:00Z
    assert editor.get(f"{CHANGELIST}{alert.pk}/change/").context["has_change_permission"]
    listed = editor.get(CHANGELIST)
    assert "Stop S2 is closed" in listed.content.decode()
    assert list(editor.get(CHANGELIST, {"state": "active"}).context["cl"].result_list) == [alert]
    assert list(editor.get(CHANGELIST, {"state": "ended"}).context["cl"].result_list) == []
    assert list(editor.get(CHANGELIST, {"q": "S2 is closed"}).context["cl"].result_list) == [alert]


def _formset(response, prefix: str):
    (formset,) = [
        f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == prefix
    ]
    return formset


def test_a_bad_stop_is_an_error_on_that_rows_stop(editor, gtfs_feed, heard):
    response = editor.post(ADD, alert_form(stop_id="NOPE"))

    assert response.status_code == 200  # the form again, with its errors
    entities = _formset(response, "informed_entities")
    assert entities.forms[0].errors == {}
    assert entities.forms[1].errors == {
        "stop_id": [f"unknown stop 'NOPE' in GTFS version {gtfs_feed.pk}"]
    }
    assert not ServiceAlert.objects.exists() and heard.alerts == []


def test_the_other_rules_show_on_their_inlines(editor):
    response = editor.post(
        ADD,
        alert_form(
            texts=[{"field": "description", "language": "", "text": "No header given"}],
            periods=[
                {
                    "start_0": "2026-01-02",
                    "start_1": "08:00:00",
                    "end_0": "2026-01-01",
                    "end_1": "08:00:00",
                }
            ],
        ),
    )

    assert response.status_code == 200
    assert _formset(response, "translations").non_form_errors() == [
        "give the header in at least one language"
    ]
    periods = _formset(response, "active_periods")
    assert "must be after the start" in str(periods.forms[0].errors)
    assert not ServiceAlert.objects.exists()


def test_a_change_goes_through_the_service_and_end_now_ends(editor, committed, heard):
    with committed():
        editor.post(ADD, alert_form())
    alert = ServiceAlert.objects.get()
    rows = lambda part, fields: [  # noqa: E731
        {"id": str(row.pk), "alert": str(alert.pk), **{f: getattr(row, f) for f in fields}}
        for row in getattr(alert, part).all()
    ]
    form = {
        **alert_form(effect="STOP_MOVED"),
        **inline("translations", rows("translations", ("field", "language", "text")), 2),
        **inline(
            "informed_entities",
            [
                {**r, "route_id": "", "stop_id": "S3"}
                for r in rows("informed_entities", ["stop_id"])
            ][1:],
        ),
    }
    form["informed_entities-0-id"] = ""  # the rows are replaced: one new row

    with committed():
        changed = editor.post(f"{CHANGELIST}{alert.pk}/change/", form)

    assert changed.status_code == 302, changed.context["errors"]
    alert.refresh_from_db()
    assert alert.effect == "STOP_MOVED"
    assert [e.stop_id for e in alert.informed_entities.all()] == ["S3"]
    with committed():
        editor.post(CHANGELIST, {"action": "end_now", "_selected_action": [str(alert.pk)]})
    alert.refresh_from_db()
    assert alert.ended_at is not None and alert.ended_by.username == "desk"
    assert [h.action for h in heard.alerts] == ["created", "updated", "ended"]
    message = rt.FeedMessage()
    message.ParseFromString(editor.get("/gtfs-rt/alerts.pb").content)
    assert list(message.entity) == []
    # An ended alert is kept as it was: its page is read-only.
    page = editor.get(f"{CHANGELIST}{alert.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]


@pytest.mark.django_db
def test_writing_needs_the_permission_and_the_role(client, gtfs_feed):
    client.force_login(staff("clerk", *ALERT_PERMISSIONS, group=None))
    assert client.get(CHANGELIST).status_code == 200  # may look
    assert client.get(ADD).status_code == 403  # not a dispatcher
    client.force_login(staff("viewer", "view_servicealert"))
    assert client.get(ADD).status_code == 403  # a dispatcher without the add permission
    client.force_login(staff("outsider"))
    assert client.get(CHANGELIST).status_code == 403  # neither
