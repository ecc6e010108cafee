"""The alert editor and the live map's alerts, in headless Chromium against a real uvicorn.

A dispatcher (staff, in the dispatcher group, with the alerts' model permissions as an
agency grants them) opens the live map, then, in a second tab, the admin's alert editor:
an alert with its header, an informed entity (stop S2 of route R1) and no period, saved
through the editor, which hands it to the alerts service. The map, left open, shows it
live (the web process's ``alert`` message): in the alerts panel, with route R1 drawn over
dashed and stop S2 ringed, the alert's detail on a click. "End now" in the admin removes
it from the map. The network is ``schedule_engine.testing.TINY_FEED`` (the live map
test's). Screenshots go to ``test-artifacts/``; the pages ask nothing of another host.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import sync_playwright

from alerts.models import ServiceAlert
from realtime_engine.tests.live_support import forget_live_groups, start_asgi_server
from runs.services.actors import DISPATCHER_GROUP
from schedule_engine.testing import TINY_FEED, import_feed, write_feed
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, outside_requests_recorded

PASSWORD = "pw-dispatcher-alerts"
HEADER = "Main Street detour: stop Second is closed"


@pytest.fixture
def dispatcher_in_admin(transactional_db, tmp_path):
    """The tiny feed, current, and a dispatcher who may add and change alerts in the admin."""
    import_feed(write_feed(tmp_path / "feed", TINY_FEED))
    group = Group.objects.get_or_create(name=DISPATCHER_GROUP)[0]
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="alerts",
            codename__in=["add_servicealert", "change_servicealert", "view_servicealert"],
        )
    )
    user = get_user_model().objects.create_user("dispatch-alerts", password=PASSWORD, is_staff=True)
    user.groups.add(group)
    return user


def test_an_alert_saved_in_the_editor_shows_live_on_the_map_until_it_is_ended(
    dispatcher_in_admin, process_env, tmp_path, redis_client, monkeypatch
):
    user = dispatcher_in_admin
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's loop in this thread
    server = start_asgi_server(process_env, tmp_path / "asgi")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            foreign_requests = outside_requests_recorded(context, server)
            live = context.new_page()
            live.goto(f"{server.http}/live/")
            live.fill("#id_username", user.username)
            live.fill("#id_password", PASSWORD)
            live.click("input[type=submit]")
            live.wait_for_url(f"{server.http}/live/")
            live.wait_for_selector("#alerts li.none")  # the snapshot: no alert yet
            assert live.locator("#connection").inner_text() == "live"

            editor = context.new_page()
            editor.goto(f"{server.http}/admin/alerts/servicealert/add/")
            editor.select_option("#id_cause", "CONSTRUCTION")
            editor.select_option("#id_effect", "DETOUR")
            editor.select_option("#id_severity", "WARNING")
            editor.select_option("#id_translations-0-field", "header")
            editor.fill("#id_translations-0-text", HEADER)
            editor.fill("#id_informed_entities-0-route_id", "R1")
            editor.fill("#id_informed_entities-0-stop_id", "S2")
            editor.screenshot(path=str(ARTIFACTS / "alert-editor.png"), full_page=True)
            editor.click("input[name=_save]")
            editor.wait_for_selector(".messagelist .success")
            editor.screenshot(path=str(ARTIFACTS / "alert-editor-saved.png"))

            # The map, open all along, hears of it without a reload.
            live.bring_to_front()
            item = live.wait_for_selector("#alerts li.alert-item")
            listed = item.inner_text()
            # No database read in here: it would open a connection in playwright's context.
            alert_id = item.get_attribute("data-alert-id")
            # Attached, not "visible": a straight north-south line's box is 0 px wide.
            route = live.wait_for_selector('path.alert-route[data-route-id="R1"]', state="attached")
            live.wait_for_selector('path.alert-stop[data-stop-id="S2"]', state="attached")
            assert live.locator("path.alert-route").count() == 1  # one shape of one route
            assert live.locator("path.alert-stop").count() == 1
            live.screenshot(path=str(ARTIFACTS / "live-map-alerts.png"))

            box = route.bounding_box()  # clicked near its northern end, away from the ring
            live.mouse.click(box["x"] + box["width"] / 2, box["y"] + 12)
            live.wait_for_selector("#detail:not([hidden])")
            detail = live.locator("#detail").inner_text()
            assert live.locator("#detail-history-title").is_hidden()
            live.screenshot(path=str(ARTIFACTS / "live-map-alert-detail.png"))

            editor.bring_to_front()
            editor.goto(f"{server.http}/admin/alerts/servicealert/")
            editor.check(f'input[name=_selected_action][value="{alert_id}"]')
            editor.select_option("select[name=action]", "end_now")
            editor.click("button[name=index]")
            editor.wait_for_selector(".messagelist .success")

            live.bring_to_front()
            live.wait_for_selector("#alerts li.none")
            assert live.locator("path.alert-route, path.alert-stop").count() == 0
            ended_detail = live.locator("#detail").inner_text()  # still open, marked ended
            live.screenshot(path=str(ARTIFACTS / "live-map-alert-ended.png"))
            browser.close()
    finally:
        server.handle.stop()
        forget_live_groups()
    for shown in ("WARNING", "DETOUR", HEADER, "route 1", "stop Second (S2)"):
        assert shown in listed, (shown, listed)
    assert f"Alert: {HEADER}" in detail
    [alert] = ServiceAlert.objects.all()
    assert str(alert.pk) == alert_id
    for shown in ("DETOUR", "CONSTRUCTION", "WARNING", "Second (S2)", f"#{alert.pk}"):
        assert shown in detail, (shown, detail)
    assert "ended: no longer shown" in ended_detail
    assert alert.ended_at is not None
    assert foreign_requests == []
