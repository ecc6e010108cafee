"""The Content-Security-Policy each HTML page is sent, and the sources it is built from.

The browser check (no violation, no outside request) is tests/test_csp_pages.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import drf_spectacular
import pytest
from django.contrib.auth import get_user_model

from backend.content_security import SWAGGER_UI_STYLE_HASH, tile_image_source
from databus.env import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("", None),
        ("/tiles/{z}/{x}/{y}.png", None),  # same origin: 'self' covers it
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("http://127.0.0.1:8081/{z}/{x}/{y}.png?key=abc", "http://127.0.0.1:8081"),
    ],
)
def test_tile_source_is_the_templates_scheme_and_host(url, source):
    assert tile_image_source(url) == source


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://tiles.example/{z}", "https://tiles-{s}.example/{z}", "https://"],
)
def test_a_tile_url_csp_cannot_express_is_refused(url):
    with pytest.raises(ConfigError, match="LIVE_MAP_TILE_URL"):
        tile_image_source(url)


def test_the_swagger_ui_style_hash_is_that_of_the_installed_template():
    template = (
        Path(drf_spectacular.__file__).parent / "templates/drf_spectacular/swagger_ui.html"
    ).read_text()
    styles = re.findall(r"<style>(.*?)</style>", template, flags=re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" == SWAGGER_UI_STYLE_HASH


def policy_with(env: dict[str, str]) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_map_tiles_are_allowed_from_the_configured_host_only():
    assert policy_with({"LIVE_MAP_TILE_URL": ""})["img-src"] == ["'self'", "data:"]
    tiled = policy_with({"LIVE_MAP_TILE_URL": "https://{s}.tile.example.org/{z}/{x}/{y}.png"})
    assert tiled["img-src"] == ["'self'", "data:", "https://*.tile.example.org"]


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("csp-admin", password="pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "signed_in"),
    [("/admin/login/", False), ("/live/", True), ("/admin/", True), ("/api/docs/", True)],
)
def test_every_html_page_is_sent_a_policy_without_unsafe_sources(client, path, signed_in):
    if signed_in:
        client.force_login(get_user_model().objects.create_superuser("csp-admin", password="pw"))
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "https:", "http:"} & set(sources)


@pytest.mark.django_db
def test_swagger_ui_page_loads_its_files_from_this_server_with_no_inline_script(staff_client):
    html = staff_client.get("/api/docs/").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in url for url in urls), urls
    assert [url for url in urls if not url.startswith("/")] == []
    assert re.findall(r"<script>", html) == []  # each script is a file ('self')
    script = staff_client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
