"""WebSocket URL patterns; the live-updates consumer registers here, behind its authentication."""

from django.urls import path

from realtime_engine.ws.auth import LiveAuthMiddleware
from realtime_engine.ws.consumer import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveAuthMiddleware(LiveConsumer.as_asgi())),
]
