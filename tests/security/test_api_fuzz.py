"""Property-based requests to every operation of the OpenAPI schema: no answer is a 5xx, and
each conforms to the schema.

schemathesis reads ``/api/schema/`` (drf-spectacular) from the WSGI application and sends,
for each operation, requests generated from the schema, valid and invalid (wrong types,
missing fields, odd strings), once with a lab's API key and once with a staff session. The
run is bounded (a few examples per operation) and deterministic (derandomised), so it runs in
CI on every change. The checks: the server never fails, every status code it answers is
documented for the operation, and every body matches the schema of its status. Every
operation's request example is sent too. A batch body in JSON Lines is sent as text (the
upload's example, then generated strings); ``tests/annotate/test_ingest_fuzz.py`` fuzzes it
line by line.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from rlhf_platform import api_urls
from tests.factories import ProjectFactory

# The run takes minutes on two busy cores and answers the same on either database: CI runs it
# once, in its PostgreSQL pass. API_FUZZ_MAX_EXAMPLES=N runs it on SQLite too. Skipped before
# the schema is read: building the operations' tests alone takes about 20 s of collection.
if (
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    and "API_FUZZ_MAX_EXAMPLES" not in os.environ
):
    pytest.skip(
        "the schema conformance run takes minutes: CI runs it once, on PostgreSQL "
        "(API_FUZZ_MAX_EXAMPLES=N runs it here)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db

# Per operation and identity (about 100 operations): some 500 requests in all, under two
# minutes on two cores. API_FUZZ_MAX_EXAMPLES=50 makes a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_MAX_EXAMPLES", 2))

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same requests on every run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# No 5xx, no undocumented status code, no body unlike the schema of its status.
CONFORMANCE = [not_a_server_error, status_code_conformance, response_schema_conformance]

# Operations that would end the identity the run uses (every later request would be anonymous).
SESSION_ENDING = {"/api/v1/auth/logout"}


# A JSON Lines body is text: the upload's example (a few records) and generated strings.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

# Read from the application when the module is collected (the schema needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _a_project(lab_key):
    ProjectFactory(lab=lab_key[0])  # something to list, so list endpoints render rows


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the database connection after each request (as between real
    requests), which would close the test's transaction; Django's test client stops the same
    signal handlers while it calls the application."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _lab_paths() -> list[str]:
    """The schema paths of the lab endpoints (``ENDPOINT_AUDIENCE`` says "lab")."""
    return sorted(
        "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        for pattern in api_urls.urlpatterns
        if api_urls.ENDPOINT_AUDIENCE.get(pattern.name) == "lab"
    )


LAB_PATHS = _lab_paths()


# The lab endpoints with a lab's key are the conformance test's below (the same checks): here the
# key meets every other operation.
@schema.exclude(path=LAB_PATHS).parametrize()
@FUZZ_SETTINGS
def test_no_server_error_with_a_lab_key(case, lab_key):
    response = case.call(headers={"Authorization": f"Bearer {lab_key[2]}"})
    case.validate_response(response, checks=CONFORMANCE)


@schema.exclude(path=list(SESSION_ENDING)).parametrize()
@FUZZ_SETTINGS
def test_no_server_error_with_a_staff_session(case, staff_user):
    client = Client()
    client.force_login(staff_user)
    csrf = _get_new_csrf_string()
    response = case.call(
        headers={"X-CSRFToken": csrf},
        cookies={"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
    )
    case.validate_response(response, checks=CONFORMANCE)


def test_each_operations_test_has_its_own_node_id(request):
    """Parallel workers schedule tests by node id: one id shared by every operation would run
    one operation per test (tests/conftest.py gives each its own)."""
    fuzz = [item.nodeid for item in request.session.items if item.path == request.node.path]
    assert len(fuzz) > 100
    assert len(set(fuzz)) == len(fuzz)


def test_the_conformance_run_covers_the_lab_endpoints():
    documented = set(schema.raw_schema["paths"])
    assert len(LAB_PATHS) > 20
    assert set(LAB_PATHS) <= documented, set(LAB_PATHS) - documented


@schema.include(path=LAB_PATHS).parametrize()
@FUZZ_SETTINGS
def test_lab_endpoints_conform_to_the_schema(case, lab_key):
    """Every status a lab endpoint answers with a lab's key is in its operation's responses
    (the error ones come from ``core/openapi_errors.document_error_responses``), and every body
    matches the schema documented for its status."""
    response = case.call(headers={"Authorization": f"Bearer {lab_key[2]}"})
    case.validate_response(response, checks=CONFORMANCE)
