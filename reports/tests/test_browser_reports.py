"""The report pages in headless Chromium on a day of demo history: every page draws a chart.

The bundled demo network is imported and yesterday's service day written by the demo's
own generator (``reports.demo_history``: runs, stop events, positions, prediction log), as
``make demo`` does; a real uvicorn serves the pages. A planner logs in and opens each
report for that day; each page must draw at least one Chart.js chart with data, break no
rule of its Content-Security-Policy, log no error and ask nothing of another host.
Screenshots go to ``test-artifacts/`` (``reports-<page>.png``).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import sync_playwright

from realtime_engine.tests.live_support import forget_live_groups, start_asgi_server
from reports.access import PLANNER_GROUP
from reports.demo_history.writer import demo_history_write
from reports.views import PAGES
from schedule_engine.demo_network import DEMO_NETWORK_DIR
from schedule_engine.testing import import_feed
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, outside_requests_recorded
from tests.test_csp_pages import LISTEN_FOR_VIOLATIONS

PASSWORD = "pw-planner-reports"
# A chart is drawn with data: Chart.js knows the canvas and its first series has values.
CHART_HAS_DATA = """(canvas) => {
  const chart = Chart.getChart(canvas);
  return !!chart && chart.data.datasets.length > 0 && chart.data.datasets[0].data.length > 0
    && chart.data.datasets[0].data.some((value) => value !== null);
}"""


@pytest.fixture
def demo_day(transactional_db):
    """The demo network with yesterday's history written, and a planner."""
    feed = import_feed(DEMO_NETWORK_DIR)
    yesterday = dt.datetime.now(ZoneInfo(feed.timezone)).date() - dt.timedelta(days=1)
    written = demo_history_write(service_date=yesterday, seed="browser-test")
    assert written.stop_events > 0 and written.predictions > 0, written
    # The login page is the admin's (LOGIN_URL): it admits staff accounts only.
    user = get_user_model().objects.create_user("planner-browser", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=PLANNER_GROUP)[0])
    return user, yesterday


def test_every_report_page_draws_its_charts_from_the_demo_day(
    demo_day, process_env, tmp_path, monkeypatch
):
    user, day = demo_day
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's loop in this thread
    ARTIFACTS.mkdir(exist_ok=True)
    server = start_asgi_server(process_env, tmp_path / "asgi")
    errors: list[str] = []
    drawn: dict[str, list[bool]] = {}
    violations: dict[str, list[str]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.add_init_script(LISTEN_FOR_VIOLATIONS)
            outside = outside_requests_recorded(page, server)
            page.on(
                "console",
                lambda message: (
                    errors.append(f"{page.url}: {message.text}")
                    # Chromium asks for /favicon.ico; databus has none (a 404).
                    if message.type == "error"
                    and not message.location.get("url", "").endswith("/favicon.ico")
                    else None
                ),
            )
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))

            page.goto(f"{server.http}/reports/")
            assert "/admin/login/" in page.url  # login required
            page.fill("#id_username", user.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{server.http}/reports/")
            page.screenshot(path=str(ARTIFACTS / "reports-index.png"))
            page.goto(f"{server.http}/admin/")  # the admin's index links the reports
            admin_links = page.locator("#reports-module a").count()
            page.screenshot(path=str(ARTIFACTS / "reports-admin-index.png"))
            violations["admin"] = page.evaluate("window.__cspViolations")

            for report in PAGES:
                response = page.goto(f"{server.http}/reports/{report.slug}/?start={day}&end={day}")
                assert response is not None and response.status == 200, report.slug
                page.wait_for_selector("canvas")
                page.wait_for_load_state("networkidle")
                drawn[report.slug] = [
                    canvas.evaluate(CHART_HAS_DATA) for canvas in page.query_selector_all("canvas")
                ]
                violations[report.slug] = page.evaluate("window.__cspViolations")
                assert page.locator("#report-table tbody tr").count() > 0, report.slug
                page.screenshot(path=str(ARTIFACTS / f"reports-{report.slug}.png"), full_page=True)
            browser.close()
    finally:
        server.handle.stop()
        forget_live_groups()
    assert {slug: any(found) for slug, found in drawn.items()} == {
        report.slug: True for report in PAGES
    }, drawn
    assert {slug: found for slug, found in violations.items() if found} == {}
    assert errors == []
    assert outside == []
    assert admin_links == 1 + len(PAGES) + 1  # the index, each report, the live map
