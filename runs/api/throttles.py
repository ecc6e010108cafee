"""Raw-rate limits on sign-in (DRF throttles, counted in the shared Redis cache), and the one
function that says which address a request comes from.

Two independent throttles guard ``POST /api/login/``: one per client address (password
spraying from one host), one per username (one account attacked from many hosts). The
lockout after repeated failures is django-axes' (``AXES_*`` settings); both key addresses
with ``client_address``, so they always agree on who the client is.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


def client_address(request) -> str | None:
    """The peer address of the connection, never a header; ``None`` if there is none (a
    Unix socket, a test client) or it is not an IP address.

    Behind a reverse proxy the ASGI server rewrites it from ``X-Forwarded-For`` only when
    the proxy is trusted (uvicorn ``--proxy-headers`` with ``FORWARDED_ALLOW_IPS`` naming
    the proxy): a client can never choose its own address by sending the header.
    Also ``AXES_CLIENT_IP_CALLABLE`` (axes stores it in an IP address column).
    """
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return None


def _username(request) -> str | None:
    data = request.data
    username = data.get("username") if isinstance(data, Mapping) else None
    if not isinstance(username, str) or not username.strip():
        return None
    return username.strip().casefold()


class LoginAddressThrottle(SimpleRateThrottle):
    scope = "login_address"

    def get_rate(self) -> str:
        # Read per request (DRF copies DEFAULT_THROTTLE_RATES once, at import).
        return settings.LOGIN_RATE_PER_ADDRESS

    def get_cache_key(self, request, view) -> str:
        # Requests with no address share one bucket: still limited, never unlimited.
        address = client_address(request) or "none"
        return self.cache_format % {"scope": self.scope, "ident": address}


class LoginUsernameThrottle(SimpleRateThrottle):
    """Keyed by a hash of the username as typed (case-folded): any length, any bytes."""

    scope = "login_username"

    def get_rate(self) -> str:
        return settings.LOGIN_RATE_PER_USERNAME

    def get_cache_key(self, request, view) -> str | None:
        username = _username(request)
        if username is None:
            return None  # nothing to count; the input serializer answers 400
        digest = hashlib.sha256(username.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}
