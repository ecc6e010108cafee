"""The live map in headless Chromium: log in, watch vehicles move, click one to see its run.

Drives Debian's ``/usr/bin/chromium`` through the ``playwright`` library against a real
uvicorn process; runs are created through the lifecycle service on a real imported
feed; positions are written to hot state and streamed by the fan-out, as the ingest
consumer does. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import sync_playwright

from realtime_engine.tests.live_support import (
    forget_live_groups,
    position_at,
    start_asgi_server,
    write_position,
)
from realtime_engine.ws.fanout import publish_positions, publisher
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.models import Vehicle
from runs.services.actors import DISPATCHER_GROUP, Actor
from runs.services.lifecycle import run_create, run_event_apply
from schedule_engine.testing import TINY_FEED, import_feed, write_feed
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, outside_requests_recorded

PASSWORD = "pw-dispatcher-live"
# Along the tiny feed's shape SH1 (due north), two vehicles some way apart.
START = {"bus-7": 40.7010, "bus-8": 40.7080}
MOVED = {"bus-7": 40.7045, "bus-8": 40.7100}


def drive(redis_client, latitudes: dict[str, float]) -> None:
    positions = {
        vid: position_at(vid, lat, -74.0001, bearing=0.0) for vid, lat in latitudes.items()
    }
    for position in positions.values():
        write_position(redis_client, position)
    publish_positions(positions)
    publisher().drain()


def marker_centres(page) -> dict[str, tuple[float, float]]:
    centres = {}
    for vid in START:
        box = page.locator(f'.vehicle-marker[data-vehicle-id="{vid}"]').bounding_box()
        centres[vid] = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return centres


@pytest.fixture
def live_fleet(transactional_db, tmp_path, redis_client):
    """The tiny feed, a dispatcher, and two confirmed runs with hot state."""
    import_feed(write_feed(tmp_path / "feed", TINY_FEED))
    user = get_user_model().objects.create_user("dispatch-live", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=DISPATCHER_GROUP)[0])
    actor = Actor(ActorRole.DISPATCHER, user.pk)
    runs = {}
    for vehicle_id, trip_id in (("bus-7", "T1"), ("bus-8", "FREQ")):
        vehicle = Vehicle.objects.create(id=vehicle_id, label=vehicle_id.upper())
        created = run_create(
            actor=actor, vehicle=vehicle, trip_id=trip_id, start_date=dt.date(2026, 11, 23)
        )
        assert created.refused is None, created.refused
        outcome = run_event_apply(
            run_id=created.run.pk, event=RunEvent.RUN_CONFIRMED_BY_OPERATOR, actor=actor
        )
        assert outcome.decision.accepted
        runs[vehicle_id] = created.run
    return user, runs


def test_live_map_shows_vehicles_moving_and_a_clicked_vehicles_run(
    live_fleet, process_env, tmp_path, redis_client, monkeypatch
):
    user, runs = live_fleet
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's loop in this thread
    drive(redis_client, START)
    server = start_asgi_server(process_env, tmp_path / "asgi")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            foreign_requests = outside_requests_recorded(page, server)
            page.goto(f"{server.http}/live/")
            assert "/admin/login/" in page.url  # login required
            page.fill("#id_username", user.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{server.http}/live/")
            for vid in START:
                page.wait_for_selector(f'.vehicle-marker[data-vehicle-id="{vid}"]')
            page.wait_for_selector("#runs tbody tr:nth-child(2)")
            assert page.locator("#connection").inner_text() == "live"
            before = marker_centres(page)
            page.screenshot(path=str(ARTIFACTS / "live-map-1.png"))

            drive(redis_client, MOVED)
            page.wait_for_function(
                "([vid, y]) => { const m = document.querySelector("
                '`.vehicle-marker[data-vehicle-id="${vid}"]`);'
                " return m && Math.abs(m.getBoundingClientRect().y - y) > 5; }",
                arg=["bus-7", before["bus-7"][1] - 18],
            )
            after = marker_centres(page)
            page.screenshot(path=str(ARTIFACTS / "live-map-2.png"))
            for vid in START:  # moving north: up the screen
                assert after[vid][1] < before[vid][1] - 5, (vid, before, after)

            page.locator('.vehicle-marker[data-vehicle-id="bus-7"]').click()
            page.wait_for_selector("#detail-history li")
            detail = page.locator("#detail").inner_text()
            page.screenshot(path=str(ARTIFACTS / "live-map-run.png"))
            browser.close()
    finally:
        server.handle.stop()
        forget_live_groups()
    assert str(runs["bus-7"].pk) in detail
    assert "Confirmed" in detail and "T1" in detail
    assert "initialize_run" in detail and "run_confirmed_by_operator" in detail
    assert foreign_requests == []
