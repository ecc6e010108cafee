"""WebSocket URL patterns; the live-updates consumer registers here."""

websocket_urlpatterns: list = []
