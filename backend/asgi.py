"""ASGI entry served by uvicorn: HTTP goes to Django, WebSocket to Channels consumers.

WebSocket handshakes pass the Origin check first (``realtime_engine.ws.origin``: a foreign
Origin is refused with HTTP 403), then the session, then the route's own authentication.
The lifespan protocol (which Channels' router does not speak) hooks the server's
shutdown signals so that live WebSockets are closed with 1001 first
(``realtime_engine.ws.shutdown``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: routing modules import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backend.websocket_routes import websocket_urlpatterns  # noqa: E402
from realtime_engine.ws.origin import allowed_hosts_origin_validator  # noqa: E402
from realtime_engine.ws.shutdown import lifespan  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": allowed_hosts_origin_validator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        "lifespan": lifespan,
    }
)
