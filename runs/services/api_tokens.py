"""API tokens (django-rest-knox): issue one per sign-in, revoke one or all.

Knox stores only a hash of each token, with an expiry (``REST_KNOX["TOKEN_TTL"]``,
set from ``API_TOKEN_TTL_S``). Every sign-in issues a new token (rotation: the old ones
keep working until they expire or are revoked); a user holds at most
``API_TOKEN_LIMIT_PER_USER`` live tokens, the oldest revoked first, so a device that
signs in every shift never finds itself refused and the table stays bounded.

Written by ``runs.api.auth``; read by knox's ``TokenAuthentication`` (REST) and by
``realtime_engine.ws.auth`` (WebSocket).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings


@dataclass(frozen=True)
class IssuedToken:
    key: str  # shown once: knox keeps only its hash
    expiry: dt.datetime


def _live(user) -> Q:
    return Q(user=user) & (Q(expiry__gt=timezone.now()) | Q(expiry__isnull=True))


def api_token_issue(*, user) -> IssuedToken:
    """A new token for ``user``; revokes their oldest beyond the per-user limit."""
    keep = max(int(settings.API_TOKEN_LIMIT_PER_USER) - 1, 0)
    with transaction.atomic():
        # Expired tokens of this user are dead weight: knox only prunes them on use.
        AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
        oldest = AuthToken.objects.filter(_live(user)).order_by("-created")[keep:]
        AuthToken.objects.filter(digest__in=list(oldest.values_list("digest", flat=True))).delete()
        instance, key = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
    return IssuedToken(key=key, expiry=instance.expiry)


def api_token_revoke(*, token: AuthToken) -> None:
    token.delete()


def api_tokens_revoke_all(*, user) -> int:
    """Revoke every token of ``user`` (lost device, left the agency); returns how many."""
    count, _ = AuthToken.objects.filter(user=user).delete()
    return count
