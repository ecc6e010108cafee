"""One-time tickets for ``/ws/live/?ticket=…``: a browser-safe way to put a credential in a URL.

A ticket is 32 random bytes (URL-safe text), issued by ``POST /api/ws-ticket/`` to an
authenticated user with a role, good for ``LIVE_WS_TICKET_TTL_S`` seconds and for one
connection. Redis holds the user id under the ticket's SHA-256 (``keys.live_ws_ticket``,
with that TTL), so what Redis holds cannot itself be presented; redeeming is one GETDEL, so
two connections racing with one ticket get it once. A ticket in an access log is already
spent or about to expire, unlike a long-lived token.
Written by ``realtime_engine.api``; redeemed by ``realtime_engine.ws.auth``.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import redis

from databus import keys

TICKET_BYTES = 32
# What ``secrets.token_urlsafe(TICKET_BYTES)`` produces; anything else is refused unread.
_TICKET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def _key(ticket: str) -> str:
    return keys.live_ws_ticket(hashlib.sha256(ticket.encode()).hexdigest())


def ticket_issue(client: redis.Redis, *, user_id: int, ttl_s: int) -> str:
    """A new ticket standing for ``user_id`` for ``ttl_s`` seconds."""
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    client.set(_key(ticket), user_id, ex=ttl_s)
    return ticket


def ticket_redeem(client: redis.Redis, ticket: str) -> int | None:
    """The user id of a live ticket, which is spent; ``None`` if unknown, used or expired."""
    if not _TICKET_SHAPE.fullmatch(ticket):
        return None
    user_id = client.getdel(_key(ticket))
    return int(user_id) if user_id is not None else None
