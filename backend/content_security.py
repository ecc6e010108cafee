"""Content-Security-Policy sources that depend on configuration or on a library's markup.

Pure (standard library and ``databus.env`` only): ``backend.settings`` builds
``CONTENT_SECURITY_POLICY`` from these; django-csp's middleware sends it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from databus.env import ConfigError

# The one inline <style> of drf-spectacular's Swagger UI page (drf_spectacular/swagger_ui.html,
# three box-sizing rules), allowed by its hash rather than by 'unsafe-inline'.
# tests/test_csp.py recomputes it from the installed template, so an upgrade that changes the
# markup fails there first.
SWAGGER_UI_STYLE_HASH = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"


def tile_image_source(tile_url: str, *, variable: str = "LIVE_MAP_TILE_URL") -> str | None:
    """The ``img-src`` source the live map's tiles need: the template's scheme and host.

    ``https://{s}.tile.example.org/{z}/{x}/{y}.png`` → ``https://*.tile.example.org``
    (Leaflet's ``{s}`` subdomain label becomes CSP's leading wildcard). An empty or
    same-origin (path-only) template needs nothing beyond ``'self'``: ``None``.
    """
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if not parts.scheme and not parts.netloc:
        return None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"{variable}={tile_url!r}: must be an http(s) URL template or a path")
    labels = parts.netloc.split(".")
    if labels[0] == "{s}":
        labels[0] = "*"
    host = ".".join(labels)
    if "{" in host or "}" in host or "@" in host:
        raise ConfigError(
            f"{variable}={tile_url!r}: only a leading {{s}} label may vary in the host"
        )
    return f"{parts.scheme}://{host}"
