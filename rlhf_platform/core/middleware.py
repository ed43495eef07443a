"""Static files served by WhiteNoise without breaking the async middleware chain.

WhiteNoise's middleware is sync-only. Under ASGI every other middleware here runs async, so
Django wrapped the one sync middleware in a thread hop (sync_to_async) and the rest of the
chain behind it in a hop back (async_to_sync): two hand-offs between the event loop and a
thread on every request, static or not, before the view's own hop. This subclass is both sync
and async capable: in the async chain it looks the path up in WhiteNoise's table (a dict, no
I/O) and awaits the next handler directly; only a static file is served through a thread.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware

__all__ = ["HybridMiddleware", "StaticFilesMiddleware"]


class HybridMiddleware:
    """A middleware that runs in the sync chain and, without a thread hop, in the async one.

    Django wraps a sync-only middleware in a thread hop under ASGI (and the rest of the chain
    behind it in a hop back). A subclass implements ``sync_call(request)`` and
    ``async_call(request)``, each calling ``self.get_response`` its way.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.async_call(request)
        return self.sync_call(request)

    def sync_call(self, request):
        raise NotImplementedError

    async def async_call(self, request):
        raise NotImplementedError


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        if self.autorefresh:  # development: finders touch the file system
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
