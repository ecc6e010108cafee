"""Token authentication for WebSocket connections (the session cookie is Channels' own).

A DRF token is taken from the ``?token=`` query parameter or an ``Authorization:
Token <key>`` header and replaces ``scope["user"]`` when it is valid; otherwise the
user set by ``AuthMiddlewareStack`` (from the session) stays. Wraps the live consumer
in ``backend.websocket_routes``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

TOKEN_KEYWORD = "token"


def token_of_scope(scope) -> str | None:
    """The token a connection presents, if any (query parameter first, then header)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get(TOKEN_KEYWORD):
        return query[TOKEN_KEYWORD][0]
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == TOKEN_KEYWORD and key.strip():
                return key.strip()
    return None


@database_sync_to_async
def _user_of_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        key = token_of_scope(scope)
        if key:
            user = await _user_of_token(key)
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)
