from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import (
    PASSWORD,
    CredentialFactory,
    DomainFactory,
    ExpertProfileFactory,
    LabFactory,
    StaffFactory,
    make_api_key,
)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need real PostgreSQL (locking, constraints, triggers).

    schemathesis names its test of each operation ``test[GET /path]`` but gives them all the
    test's node id. Parallel workers (pytest-xdist) schedule by node id, so they would run one
    operation per test: each such item's node id becomes its name."""
    from collections import Counter

    from _pytest.nodeid import NodeId
    from django.conf import settings

    shared = Counter(item.nodeid for item in items)
    for item in items:
        if shared[item.nodeid] > 1 and "[" in item.name:
            # pytest 9 keeps a node's id as a NodeId (the node's ``_id``);
            # tests/security/test_api_fuzz.py checks that the ids come out unique.
            item._id = NodeId.parse(f"{item.nodeid.rsplit('::', 1)[0]}::{item.name}")

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _private_storage(tmp_path, settings, monkeypatch):
    """Evidence files of each test go to a fresh folder."""
    from django.core.files.storage import storages

    from rlhf_platform.experts.models import Credential

    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }
    storages._storages = {}
    storages._backends = None
    # A FileField calls its storage callable once, when the model class is built: point the
    # field itself at the test's storage, or the files would land in the real DATA_DIR.
    monkeypatch.setattr(Credential._meta.get_field("evidence"), "storage", storages["private"])
    yield
    storages._storages = {}
    storages._backends = None


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts with empty counters (log-in throttle, budget gate), and no health
    verdict or rendered schema kept from another test."""
    from django.core.cache import cache

    from rlhf_platform.core.health import health_cache_clear
    from rlhf_platform.core.schema_view import SchemaView

    cache.clear()
    health_cache_clear()
    SchemaView.forget()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """A deliberately slow hash protects real passwords; in tests it only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def lab():
    return LabFactory()


@pytest.fixture
def lab_key(lab):
    """(lab, ApiKey, raw secret) with read and write scopes."""
    api_key, raw = make_api_key(lab)
    return lab, api_key, raw


@pytest.fixture
def lab_client(lab_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {lab_key[2]}")
    return client


@pytest.fixture
def staff_user(db):
    return StaffFactory()


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def expert(db):
    return ExpertProfileFactory()


@pytest.fixture
def expert_client(expert) -> APIClient:
    client = APIClient()
    client.force_login(expert.user)
    return client


@pytest.fixture
def domain(db):
    return DomainFactory(slug="medicine", name="Medicine")


# The smallest thing that starts like a PDF: the evidence check reads the first bytes.
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def pdf_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("diploma.pdf", PDF_BYTES, content_type="application/pdf")


@pytest.fixture
def private_dir(settings):
    """The folder evidence files are written to in this test."""
    from pathlib import Path

    return Path(settings.STORAGES["private"]["OPTIONS"]["location"])


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


__all__ = ["PASSWORD", "PDF_BYTES", "CredentialFactory"]


# --- Celery --------------------------------------------------------------------------------
# Unit tests run tasks eagerly (in-process, after commit), whatever REDIS_URL says, so that a
# test never leaves work in a queue nobody reads. Tests that take ``celery_worker`` run a real
# worker thread against the configured broker: Redis when REDIS_URL is set (as in CI).


@pytest.fixture(autouse=True)
def _celery_eager_by_default(request):
    from rlhf_platform.celery_app import app

    if "celery_worker" in request.fixturenames:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (a thread of this process, so it sees the test database).

    With REDIS_URL unset there is no broker to consume: the tasks then run eagerly, which is
    what the development defaults do too.
    """
    from django.conf import settings

    from rlhf_platform.celery_app import app

    if not settings.REDIS_URL:
        previous = app.conf.task_always_eager
        app.conf.task_always_eager = True
        yield None
        app.conf.task_always_eager = previous
        return
    from celery.contrib.testing.worker import start_worker

    app.conf.task_always_eager = False
    app.control.purge()  # leftovers of an earlier run must not run against this test's rows
    from celery.result import _set_task_join_will_block

    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
    ) as worker:
        yield worker
    # The in-process worker marks the whole process as "inside a task", where result.get()
    # refuses to block; later tests run outside any worker.
    _set_task_join_will_block(False)
