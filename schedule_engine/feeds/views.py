"""GTFS-Realtime feed endpoints: the stored feed bytes, straight from Redis.

Public, like every GTFS-RT feed (no authentication), and without database access:
one ``HGETALL`` of ``feed:{name}`` per request (``store.feed_get``). Conditional
requests (``If-None-Match``, ``If-Modified-Since``) are answered with 304 from the
stored ETag and header timestamp. ``?format=json`` and ``?format=text`` render the
same FeedMessage for humans; the default is the protobuf consumers poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from google.protobuf import json_format, text_format
from google.transit import gtfs_realtime_pb2

from databus.redis import get_redis
from schedule_engine.feeds.store import FeedName, StoredFeed, feed_get


class FeedFormat(StrEnum):
    PROTOBUF = "pb"
    JSON = "json"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Rendering:
    content_type: str
    render: Callable[[bytes], bytes]


def _parsed(payload: bytes) -> gtfs_realtime_pb2.FeedMessage:
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(payload)
    return message


RENDERINGS: dict[FeedFormat, Rendering] = {
    FeedFormat.PROTOBUF: Rendering("application/x-protobuf", lambda payload: payload),
    FeedFormat.JSON: Rendering(
        "application/json",
        lambda payload: json_format.MessageToJson(_parsed(payload)).encode(),
    ),
    FeedFormat.TEXT: Rendering(
        "text/plain; charset=utf-8",
        lambda payload: text_format.MessageToString(_parsed(payload)).encode(),
    ),
}

# Clients may keep a copy but must revalidate it (cheap: 304) on every poll.
CACHE_CONTROL = "no-cache"


@require_safe
def feed_view(request: HttpRequest, name: FeedName) -> HttpResponse:
    """The stored feed ``name`` in the format asked for (``?format=pb|json|text``)."""
    requested = request.GET.get("format", FeedFormat.PROTOBUF.value)
    try:
        rendering = RENDERINGS[FeedFormat(requested)]
    except ValueError:
        choices = ", ".join(f.value for f in FeedFormat)
        return JsonResponse(
            {"error": "unknown_format", "detail": f"format must be one of {choices}"},
            status=400,
        )
    try:
        feed = feed_get(get_redis(), name)
    except redis.RedisError as error:
        return _unavailable(
            name, "hot_state_unavailable", f"Redis did not answer ({type(error).__name__})"
        )
    if feed is None:
        return _unavailable(
            name,
            "feed_not_built",
            f"The {name} feed has not been built yet; the worker's beat builds it every "
            f"{settings.FEED_BUILD_INTERVAL_S} s.",
        )
    response = _with_validators(HttpResponse(), feed)
    # A matching validator answers 304 (with ETag and Last-Modified) before any rendering.
    conditional = get_conditional_response(
        request,
        etag=feed.summary.etag,
        last_modified=feed.summary.header_timestamp,
        response=response,
    )
    if conditional is not response:
        return conditional
    response.content = rendering.render(feed.payload)
    response["Content-Type"] = rendering.content_type
    return response


def _with_validators(response: HttpResponse, feed: StoredFeed) -> HttpResponse:
    response["ETag"] = feed.summary.etag
    response["Last-Modified"] = http_date(feed.summary.header_timestamp)
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _unavailable(name: FeedName, error: str, detail: str) -> JsonResponse:
    response = JsonResponse({"error": error, "feed": name.value, "detail": detail}, status=503)
    response["Retry-After"] = str(settings.FEED_BUILD_INTERVAL_S)
    return response
