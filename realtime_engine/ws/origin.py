"""The WebSocket handshake's Origin check: Channels' own, against ``ALLOWED_HOSTS``.

A browser sends cookies with every WebSocket handshake, whichever page opened it; the
Origin header, which browsers always send and pages cannot forge, is what stops a page
of another site from opening ``/ws/live/`` as the logged-in user (cross-site WebSocket
hijacking). A foreign Origin is refused at the handshake (HTTP 403).

Channels' ``AllowedHostsOriginValidator`` also refuses a handshake *without* an Origin.
Here one is let through: only non-browser clients (a dispatch console, a driver app, a
script) omit it, and they carry no victim's cookie; they must still authenticate with a
token or ticket. Wraps the WebSocket router in ``backend.asgi``.
"""

from __future__ import annotations

from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator


class OriginOrNoneValidator(OriginValidator):
    """``OriginValidator`` that admits a handshake with no Origin header."""

    def valid_origin(self, parsed_origin) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)


def allowed_hosts_origin_validator(application) -> OriginOrNoneValidator:
    """Channels' allowed-hosts validator (its DEBUG fallback included), no Origin admitted."""
    allowed = AllowedHostsOriginValidator(application).allowed_origins
    return OriginOrNoneValidator(application, allowed)
