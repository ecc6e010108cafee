"""realtime_engine installs the live fan-out as databus.notify's listener when Django starts.

Each notification reaches ``fanout`` with the arguments the services used to pass it
themselves (that ``fanout`` turns these into the right messages: ``test_ws_live``).
"""

from __future__ import annotations

import pytest

from databus import notify
from realtime_engine.ws import notifications


@pytest.fixture
def fanout_calls(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(
        notifications, "publish_run_state", lambda *a, **kw: calls.append(("run_state", a, kw))
    )
    monkeypatch.setattr(
        notifications, "publish_feed_status", lambda *a, **kw: calls.append(("feed_status", a, kw))
    )
    monkeypatch.setattr(
        notifications, "publish_alert", lambda *a, **kw: calls.append(("alert", a, kw))
    )
    return calls


def test_a_run_state_change_is_sent_to_the_run_vehicle_and_route(fanout_calls):
    notify.run_state_changed(
        notify.RunStateChanged(
            run_id="7",
            state="In Progress",
            previous_state="Confirmed",
            event="run_started",
            vehicle_id="bus-1",
            route_id="R1",
            trip_id="T1",
        )
    )
    assert fanout_calls == [
        (
            "run_state",
            ("7", "In Progress"),
            {
                "previous_state": "Confirmed",
                "event": "run_started",
                "vehicle_id": "bus-1",
                "route_id": "R1",
                "trip_id": "T1",
            },
        )
    ]


def test_a_published_feed_is_sent_to_everyone(fanout_calls):
    notify.feed_published(
        notify.FeedPublished(feed="vehicle_positions", header_timestamp=1_790_000_000, entities=2)
    )
    assert fanout_calls == [("feed_status", ("vehicle_positions", 1_790_000_000), {"entities": 2})]


def test_a_changed_alert_is_sent_as_it_was_committed(fanout_calls):
    change = notify.AlertChanged(
        alert_id=3,
        action="ended",
        active=False,
        cause="CONSTRUCTION",
        effect="DETOUR",
        severity="WARNING",
        header="Stop S2 closed",
        route_ids=("R1",),
        stop_ids=("S2",),
    )
    notify.alert_changed(change)
    assert fanout_calls == [("alert", (change,), {})]
