from __future__ import annotations

import pytest
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
    """Tests marked ``postgres`` need real PostgreSQL (locking, constraints, triggers)."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _private_storage(tmp_path, settings):
    """Evidence files of each test go to a fresh folder."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }
    storages._storages = {}
    storages._backends = None
    yield
    storages._storages = {}
    storages._backends = None


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


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


__all__ = ["PASSWORD", "CredentialFactory"]
