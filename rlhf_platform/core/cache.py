"""Django's Redis cache with one connection pool per process.

Django keeps a cache object per request context under ASGI, and its Redis client opens a new
connection pool (a new TCP connection to Redis) for each one and builds a new ``redis.Redis``
for every operation. Every session read paid for both. Here the client, and with it the pool,
is shared by the whole process; redis-py's pool is thread-safe and resets itself after a fork.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_clients: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


class SharedRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        server = self._servers[self._get_connection_pool_index(write)]
        cache_key = (server, repr(sorted(self._pool_options.items())))
        client = _clients.get(cache_key)
        if client is None:
            with _lock:
                client = _clients.get(cache_key)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _clients[cache_key] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
