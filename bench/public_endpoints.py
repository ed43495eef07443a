"""What the endpoints anyone may call without signing in cost under a flood: ``/healthz``,
``/api/schema/`` and the sign-up.

    DATABASE_URL=... [REDIS_URL=...] .venv/bin/python -m bench.public_endpoints [--requests 200]

``/healthz``: ``--requests`` anonymous probes through Django's test client (the checks are real:
the database, the channel layer, the broker, the chain), once with the verdict kept
``HEALTH_CACHE_SECONDS`` and once with 0 (every probe checks): the mean time of a probe and how
many times the checks ran. ``/api/schema/``: ``--schema-requests`` requests for the YAML schema
after a first one, with the schema kept per process (the platform's view) and generated for
each request (drf-spectacular's own view). Sign-up: ``--signups`` accounts created through
``POST /api/v1/auth/signup`` from one address with the settings' password hasher, and the same
request once that address is past ``SIGNUPS_PER_HOUR`` (refused before the hash). Prints
``name=value`` lines.
"""

from __future__ import annotations

import argparse
import time

from bench._harness import setup_django


def _probe(requests: int, seconds: float) -> tuple[float, int]:
    from django.conf import settings
    from django.test import Client

    from rlhf_platform.core import health

    runs = [0]
    original = health.CHECKS
    settings.HEALTH_CACHE_SECONDS = seconds
    health.health_cache_clear()

    def counted(check):
        def run():
            if check is original[0][1]:
                runs[0] += 1
            return check()

        return run

    health.CHECKS = [(name, counted(check)) for name, check in original]
    try:
        client = Client()
        client.get("/healthz")  # the URLconf, the chain client and the connections set up
        runs[0] = 0
        health.health_cache_clear()
        started = time.perf_counter()
        for _ in range(requests):
            response = client.get("/healthz")
            assert response.status_code in (200, 503), response.status_code
        return (time.perf_counter() - started) * 1000 / requests, runs[0]
    finally:
        health.CHECKS = original


def _schema(requests: int, *, kept: bool) -> float:
    from django.test import RequestFactory
    from drf_spectacular.views import SpectacularAPIView

    from rlhf_platform.core.schema_view import SchemaView

    SchemaView.forget()
    view = (SchemaView if kept else SpectacularAPIView).as_view()
    factory = RequestFactory()
    view(factory.get("/api/schema/"))  # the first: generated and, by the platform's view, kept
    started = time.perf_counter()
    for _ in range(requests):
        response = view(factory.get("/api/schema/"))
        if hasattr(response, "render"):
            response.render()
        assert response.status_code == 200 and len(response.content) > 100_000
    return (time.perf_counter() - started) * 1000 / requests


def _signups(count: int) -> tuple[float, float]:
    import uuid

    from django.conf import settings
    from django.core.cache import cache
    from rest_framework.test import APIClient

    def signup():
        body = {"email": f"bench-{uuid.uuid4().hex}@example.org", "password": "analytical-engine-1843"}
        return APIClient().post("/api/v1/auth/signup", body, format="json", REMOTE_ADDR="198.51.100.77")

    cache.clear()  # the address's count starts at 0
    settings.SIGNUPS_PER_HOUR = count
    started = time.perf_counter()
    for _ in range(count):
        assert signup().status_code == 201
    created = (time.perf_counter() - started) * 1000 / count
    started = time.perf_counter()
    for _ in range(count):
        assert signup().status_code == 429
    refused = (time.perf_counter() - started) * 1000 / count
    return created, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--schema-requests", type=int, default=20)
    parser.add_argument("--signups", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    kept = float(settings.HEALTH_CACHE_SECONDS)
    for label, seconds in (("kept", kept), ("every_probe", 0.0)):
        ms, runs = _probe(args.requests, seconds)
        print(f"healthz_anonymous_ms_{label}={ms:.2f}")
        print(f"healthz_check_runs_{label}={runs}")
    print(f"healthz_requests={args.requests}")
    print(f"health_cache_seconds={kept}")
    print(f"schema_ms_kept={_schema(args.schema_requests, kept=True):.2f}")
    print(f"schema_ms_every_request={_schema(args.schema_requests, kept=False):.2f}")
    print(f"schema_requests={args.schema_requests}")
    created, refused = _signups(args.signups)
    print(f"signup_ms={created:.1f}")
    print(f"signup_refused_ms={refused:.2f}")
    print(f"signups={args.signups}")


if __name__ == "__main__":
    main()
