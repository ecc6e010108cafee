"""WebSocket URL patterns; the live-updates consumer registers here."""

from django.urls import path

from realtime_engine.ws.auth import TokenAuthMiddleware
from realtime_engine.ws.consumer import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/live/", TokenAuthMiddleware(LiveConsumer.as_asgi())),
]
