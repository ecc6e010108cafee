"""Who a ``/ws/live/`` connection is: a one-time ticket, a knox token in a header, or the session.

The first of these a connection presents decides:
- ``?ticket=T``: a ticket from ``POST /api/ws-ticket/`` (``tickets``), for clients that
  cannot set headers (a browser on another page of the site, say); spent on use;
- ``Authorization: Token <key>``: a knox token, the REST API's own, so its expiry and
  revocation apply here too;
- otherwise the session cookie, which Channels' ``AuthMiddlewareStack`` already read.
Presented credentials that fail leave the connection anonymous (the consumer closes it
with 4401), even when a session cookie came along: a client that meant a token is not
silently someone else. A token in the URL (``?token=``) is not read at all: URLs end up
in access logs and browser history, and a knox token lives for a shift.
Wraps the live consumer in ``backend.websocket_routes``; pure parsing, then one lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from knox.auth import TokenAuthentication
from knox.settings import knox_settings
from rest_framework.exceptions import AuthenticationFailed

from databus.redis import get_redis
from realtime_engine.ws.tickets import ticket_redeem

TICKET_PARAMETER = "ticket"


class CredentialKind(StrEnum):
    TICKET = "ticket"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Credentials:
    kind: CredentialKind
    secret: str


def credentials_of_scope(scope) -> Credentials | None:
    """The credentials a connection presents besides its cookies, if any (ticket first)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get(TICKET_PARAMETER):
        return Credentials(CredentialKind.TICKET, query[TICKET_PARAMETER][0])
    prefix = knox_settings.AUTH_HEADER_PREFIX.lower()
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == prefix:
                return Credentials(CredentialKind.TOKEN, key.strip())
    return None


def _user_of_token(key: str):
    try:
        user, _ = TokenAuthentication().authenticate_credentials(key.encode())
    except AuthenticationFailed:  # unknown, expired (knox deletes it) or inactive user
        return None
    return user


def _user_of_ticket(ticket: str):
    user_id = ticket_redeem(get_redis(), ticket)
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


@database_sync_to_async
def user_of_credentials(credentials: Credentials):
    """The active user the credentials stand for, or ``None``."""
    if not credentials.secret:
        return None
    if credentials.kind is CredentialKind.TICKET:
        return _user_of_ticket(credentials.secret)
    return _user_of_token(credentials.secret)


class LiveAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        credentials = credentials_of_scope(scope)
        if credentials is not None:
            user = await user_of_credentials(credentials)
            scope = dict(scope, user=user or AnonymousUser())
        return await super().__call__(scope, receive, send)
