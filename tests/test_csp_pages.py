"""The HTML pages in headless Chromium under their Content-Security-Policy.

A real uvicorn serves the live map (tiles from a second local origin, as
``LIVE_MAP_TILE_URL`` names one), the admin and Swagger UI; the browser records
every ``securitypolicyviolation`` event, console error and request. No page may
break its policy or ask anything of a host other than the server and the tile
origin. A script injected at the end must be refused, so the listener is shown
to hear violations. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import sync_playwright

from realtime_engine.tests.live_support import forget_live_groups, start_asgi_server
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

PASSWORD = "pw-csp-admin"
LISTEN_FOR_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || 'inline'} in ${event.sourceFile}`
  );
});
"""
INJECT_INLINE_SCRIPT = """() => {
  const script = document.createElement('script');
  script.textContent = 'window.__injectedRan = true';
  document.body.appendChild(script);
  return window.__injectedRan === true;
}"""


def png_tile() -> bytes:
    """A one-pixel grey PNG: enough for Leaflet to mark the tile loaded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


@dataclass
class TileServer:
    url: str
    paths: list[str] = field(default_factory=list)


@contextmanager
def tile_server() -> Iterator[TileServer]:
    """A tile origin on its own port: a different origin from the app, as a tile CDN is."""
    tile = png_tile()
    served = TileServer(url="")

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):
            served.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def admin_user(transactional_db):
    return get_user_model().objects.create_superuser("csp-admin", password=PASSWORD)


@dataclass
class PageRecord:
    violations: dict[str, list[str]] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)


def test_live_map_admin_and_api_docs_break_no_csp_rule_and_call_no_outside_host(
    admin_user, process_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's loop in this thread
    ARTIFACTS.mkdir(exist_ok=True)
    record = PageRecord()
    with tile_server() as tiles:
        server = start_asgi_server(
            process_env, tmp_path / "asgi", LIVE_MAP_TILE_URL=f"{tiles.url}/{{z}}/{{x}}/{{y}}.png"
        )
        own = (server.http, f"ws://127.0.0.1:{server.port}", tiles.url, "data:")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.add_init_script(LISTEN_FOR_VIOLATIONS)
                page.on(
                    "request",
                    lambda request: (
                        None
                        if request.url.startswith(own)
                        else record.outside_requests.append(request.url)
                    ),
                )
                page.on(
                    "console",
                    lambda message: (
                        record.console_errors.append(
                            f"{page.url}: {message.text} ({message.location.get('url')})"
                        )
                        if message.type == "error"
                        else None
                    ),
                )
                page.on("pageerror", lambda error: record.console_errors.append(str(error)))

                def visit(path: str, ready: str, screenshot: str) -> None:
                    response = page.goto(f"{server.http}{path}")
                    assert response is not None and response.status == 200, path
                    record.policies[path] = response.headers.get("content-security-policy", "")
                    page.wait_for_selector(ready)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(ARTIFACTS / screenshot))
                    record.violations[path] = page.evaluate("window.__cspViolations")

                visit("/admin/login/", "#id_username", "csp-admin-login.png")
                page.fill("#id_username", admin_user.username)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{server.http}/admin/")
                visit("/admin/", "#content-main", "csp-admin-index.png")
                visit("/admin/runs/run/", "#changelist", "csp-admin-runs.png")
                visit("/admin/runs/vehicle/add/", "#vehicle_form", "csp-admin-vehicle-add.png")
                visit("/admin/ops/status/", "#ops-periodic-tasks", "csp-admin-ops-status.png")
                visit("/live/", ".leaflet-tile-loaded", "csp-live-map.png")
                visit("/api/docs/", ".opblock", "csp-api-docs.png")

                console_errors = list(record.console_errors)  # before the injected script
                refused_ran = page.evaluate(INJECT_INLINE_SCRIPT)
                page.wait_for_function("window.__cspViolations.length > 0")
                injected = page.evaluate("window.__cspViolations")
                browser.close()
        finally:
            server.handle.stop()
            forget_live_groups()
    assert set(record.policies) == set(record.violations)
    for path, policy in record.policies.items():
        assert "script-src 'self'" in policy, path
    assert {path: found for path, found in record.violations.items() if found} == {}
    # Chromium asks every origin for /favicon.ico; databus has none (a 404 on the server).
    console_errors = [error for error in console_errors if not error.endswith("/favicon.ico)")]
    assert console_errors == [], console_errors
    assert record.outside_requests == []
    assert tiles.paths, "the live map asked the tile origin for no tile"
    assert refused_ran is False
    assert any(violation.startswith("script-src") for violation in injected), injected
