"""Every lab API response states the key's rate limit (RateLimit-Limit, -Remaining, -Reset),
a refused one (429) included, so a client can pace itself instead of guessing."""

from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "3/min"},
    }
    from rlhf_platform.core.lab_api import ApiKeyRateThrottle

    rates = ApiKeyRateThrottle.THROTTLE_RATES
    ApiKeyRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    cache.clear()
    yield
    ApiKeyRateThrottle.THROTTLE_RATES = rates


def test_each_response_states_the_limit_what_remains_and_when_it_resets(lab_client, three_a_minute):
    answers = [lab_client.get("/api/v1/projects") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(0 < int(a["RateLimit-Reset"]) <= 60 for a in answers)
    assert int(answers[-1]["Retry-After"]) > 0
    assert answers[-1].json()["errors"][0]["code"] == "throttled"


def test_a_request_without_a_key_carries_no_rate_limit_fields(api_client):
    response = api_client.get("/api/v1/projects")
    assert response.status_code in (401, 403)
    assert "RateLimit-Limit" not in response
