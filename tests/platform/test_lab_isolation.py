"""Each caller sees only what is theirs: a lab its own keys, an expert their own credentials,
and every endpoint refuses the callers it is not for."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from rlhf_platform import api_urls
from rlhf_platform.accounts.models import ApiKey
from tests.factories import CredentialFactory, ExpertProfileFactory, LabFactory, make_api_key

pytestmark = pytest.mark.django_db

AUDIENCES = {"public", "person", "lab", "staff"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _endpoints() -> list[tuple[str, URLPattern]]:
    found = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            else:
                found.append((pattern.name, pattern))

    walk(api_urls.urlpatterns)
    return found


def _url(name: str, pattern: URLPattern) -> str:
    # Every path argument of the API is a UUID; this one names nothing, and is the same in
    # every process (parallel workers must collect the same test ids).
    kwargs = {arg: uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{arg}") for arg in pattern.pattern.converters}
    return reverse(name, kwargs=kwargs)


def _methods(pattern: URLPattern) -> list[str]:
    view_class = pattern.callback.view_class
    return [method for method in HTTP_METHODS if hasattr(view_class, method)]


def _cases(audience: str) -> list[tuple[str, str, str]]:
    return [
        (name, method, _url(name, pattern))
        for name, pattern in _endpoints()
        if api_urls.ENDPOINT_AUDIENCE.get(name) == audience
        for method in _methods(pattern)
    ]


def _call(client: APIClient, method: str, url: str):
    return getattr(client, method)(url, data={}, format="json")


# --- The audience table covers every endpoint -----------------------------------------------


def test_every_api_endpoint_has_an_audience():
    names = [name for name, _pattern in _endpoints()]
    assert names, "no endpoints found"
    assert all(names), "an API endpoint has no URL name"
    missing = sorted(set(names) - set(api_urls.ENDPOINT_AUDIENCE))
    assert not missing, f"endpoints missing from ENDPOINT_AUDIENCE: {missing}"


def test_audience_table_names_only_real_endpoints_and_known_audiences():
    names = {name for name, _pattern in _endpoints()}
    assert set(api_urls.ENDPOINT_AUDIENCE) <= names
    assert set(api_urls.ENDPOINT_AUDIENCE.values()) <= AUDIENCES


def test_every_audience_but_public_has_endpoints_to_check():
    for audience in ("person", "lab", "staff"):
        assert _cases(audience), f"no {audience} endpoints: the checks below would prove nothing"


# --- Lab endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method", "url"), _cases("lab"))
def test_lab_endpoint_refuses_anonymous_with_401(name, method, url):
    response = _call(APIClient(), method, url)
    assert response.status_code == 401, name
    assert response.json()["errors"][0]["code"] == "not_authenticated"


@pytest.mark.parametrize(("name", "method", "url"), _cases("lab"))
def test_lab_endpoint_refuses_an_expert_session(expert_client, name, method, url):
    response = _call(expert_client, method, url)
    assert response.status_code in (401, 403), name


@pytest.mark.parametrize(("name", "method", "url"), _cases("lab"))
def test_lab_endpoint_refuses_a_staff_session(staff_client, name, method, url):
    response = _call(staff_client, method, url)
    assert response.status_code in (401, 403), name


# --- Staff endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method", "url"), _cases("staff"))
def test_staff_endpoint_refuses_an_expert_session_with_403(expert_client, name, method, url):
    response = _call(expert_client, method, url)
    assert response.status_code == 403, name
    assert response.json()["errors"][0]["code"] == "permission_denied"


@pytest.mark.parametrize(("name", "method", "url"), _cases("staff"))
def test_staff_endpoint_refuses_a_lab_key(lab_client, name, method, url):
    response = _call(lab_client, method, url)
    assert response.status_code in (401, 403), name


@pytest.mark.parametrize(("name", "method", "url"), _cases("staff"))
def test_staff_endpoint_refuses_anonymous(name, method, url):
    response = _call(APIClient(), method, url)
    assert response.status_code == 401, name


# --- Person endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method", "url"), _cases("person"))
def test_person_endpoint_refuses_a_lab_key(lab_client, name, method, url):
    response = _call(lab_client, method, url)
    assert response.status_code in (401, 403), name


@pytest.mark.parametrize(("name", "method", "url"), _cases("person"))
def test_person_endpoint_refuses_anonymous(name, method, url):
    response = _call(APIClient(), method, url)
    assert response.status_code in (401, 403), name


# --- A lab sees only its own keys -----------------------------------------------------------


@pytest.fixture
def lab_a_key(db):
    lab_a = LabFactory()
    api_key, _raw = make_api_key(lab_a, name="lab A ingest")
    return api_key


@pytest.fixture
def lab_b_client(db) -> APIClient:
    _api_key, raw = make_api_key(LabFactory(), name="lab B key")
    return _key_client(raw)


def test_lab_cannot_revoke_another_labs_key(lab_a_key, lab_b_client):
    response = lab_b_client.post(f"/api/v1/lab/api-keys/{lab_a_key.pk}/revoke")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    lab_a_key.refresh_from_db()
    assert lab_a_key.revoked_at is None


def test_revoking_another_labs_key_looks_like_revoking_no_key(lab_a_key, lab_b_client):
    # The same answer for "exists elsewhere" and "does not exist": nothing is revealed.
    theirs = lab_b_client.post(f"/api/v1/lab/api-keys/{lab_a_key.pk}/revoke")
    nobodys = lab_b_client.post(f"/api/v1/lab/api-keys/{uuid.uuid4()}/revoke")
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json()


def test_lab_can_revoke_its_own_other_key(lab_key, lab_client):
    lab, _api_key, _raw = lab_key
    other, _ = make_api_key(lab, name="old pipeline")
    response = lab_client.post(f"/api/v1/lab/api-keys/{other.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    other.refresh_from_db()
    assert other.revoked_at is not None


def test_revoking_a_revoked_key_is_409(lab_key, lab_client):
    lab, _api_key, _raw = lab_key
    other, _ = make_api_key(lab, name="old pipeline")
    assert lab_client.post(f"/api/v1/lab/api-keys/{other.pk}/revoke").status_code == 200
    response = lab_client.post(f"/api/v1/lab/api-keys/{other.pk}/revoke")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "already_revoked"


def test_key_list_shows_only_the_own_labs_keys(lab_key, lab_client, lab_a_key):
    lab, api_key, _raw = lab_key
    second, _ = make_api_key(lab, name="second")
    response = lab_client.get("/api/v1/lab/api-keys")
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(api_key.pk), str(second.pk)}
    assert str(lab_a_key.pk) not in ids
    assert ApiKey.objects.count() == 3


def test_key_list_never_shows_secrets_or_hashes(lab_key, lab_client):
    _lab, api_key, raw = lab_key
    response = lab_client.get("/api/v1/lab/api-keys")
    assert raw.encode() not in response.content
    assert api_key.key_hash.encode() not in response.content


def test_lab_endpoint_shows_the_keys_own_lab(lab_a_key, lab_b_client):
    response = lab_b_client.get("/api/v1/lab")
    assert response.status_code == 200
    assert response.json()["lab"]["id"] != str(lab_a_key.lab_id)


# --- An expert sees only their own credentials ----------------------------------------------


def test_expert_gets_404_on_another_experts_credential(expert_client):
    theirs = CredentialFactory(expert=ExpertProfileFactory())
    response = expert_client.get(f"/api/v1/me/credentials/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_expert_gets_404_on_another_experts_evidence(expert_client, pdf_upload):
    other = ExpertProfileFactory()
    theirs = CredentialFactory(expert=other)
    theirs.evidence.save(f"{theirs.pk}.pdf", pdf_upload, save=True)
    response = expert_client.get(f"/api/v1/credentials/{theirs.pk}/evidence")
    assert response.status_code == 404


def test_expert_credential_list_shows_only_their_own(expert, expert_client):
    mine = CredentialFactory(expert=expert)
    CredentialFactory(expert=ExpertProfileFactory())
    response = expert_client.get("/api/v1/me/credentials")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.pk)]


def test_expert_reads_their_own_credential(expert, expert_client):
    mine = CredentialFactory(expert=expert)
    response = expert_client.get(f"/api/v1/me/credentials/{mine.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == str(mine.pk)
