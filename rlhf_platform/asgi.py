"""ASGI entry point: HTTP and websockets on one port (served by uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rlhf_platform.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from annotate.queue.fast_path import QueueFastPath  # noqa: E402
from rlhf_platform.core.heap import heap_freeze  # noqa: E402
from rlhf_platform.core.request_guard import RequestGuard  # noqa: E402
from rlhf_platform.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Every body is limited and scanned before anything reads it (core/request_guard.py).
        # The labelling API's next and submit are answered in front of Django when they can be
        # (annotate/queue/fast_path.py); everything else, and every case they hand over, is Django's.
        "http": RequestGuard(QueueFastPath(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Everything loaded so far lives as long as the process: out of the collector's full passes,
# which otherwise paused every request of the process (rlhf_platform/core/heap.py).
heap_freeze()
