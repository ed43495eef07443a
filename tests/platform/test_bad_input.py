"""Bad input gets a 4xx naming the field and the reason, and nothing is half-written."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from rlhf_platform.accounts.models import User
from rlhf_platform.audit.models import AuditEvent
from rlhf_platform.experts.models import Credential
from tests.conftest import PDF_BYTES
from tests.factories import CredentialFactory, DomainFactory, ExpertProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/v1/auth/signup"
CREDENTIALS = "/api/v1/me/credentials"
GOOD_PASSWORD = "a-long-enough-passphrase"


def _errors(response) -> list[dict]:
    return response.json()["errors"]


def _error_for(response, field: str | None) -> dict:
    matching = [e for e in _errors(response) if e["field"] == field]
    assert matching, f"no error for {field!r} in {_errors(response)}"
    return matching[0]


def _files_in(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def credential_form(domain) -> dict:
    return {
        "domain": domain.path,
        "kind": "licence",
        "title": "Medical licence",
        "issuer": "State Medical Board",
        "issued_on": "2018-01-15",
    }


# --- Evidence files ---------------------------------------------------------------------------


def test_valid_pdf_evidence_is_stored_privately_under_a_random_name(
    expert_client, credential_form, pdf_upload, private_dir
):
    response = expert_client.post(
        CREDENTIALS, {**credential_form, "evidence": pdf_upload}, format="multipart"
    )
    assert response.status_code == 201
    credential = Credential.objects.get(pk=response.json()["id"])
    assert credential.evidence_name == "diploma.pdf"
    assert credential.evidence_content_type == "application/pdf"
    assert credential.evidence_size == len(PDF_BYTES)
    assert credential.evidence_sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    stored = _files_in(private_dir)
    assert len(stored) == 1
    assert stored[0].name == f"{credential.pk}.pdf"
    assert stored[0].read_bytes() == PDF_BYTES


def test_owner_and_staff_download_the_evidence(expert_client, staff_client, credential_form, pdf_upload):
    credential_id = expert_client.post(
        CREDENTIALS, {**credential_form, "evidence": pdf_upload}, format="multipart"
    ).json()["id"]
    for client in (expert_client, staff_client):
        response = client.get(f"/api/v1/credentials/{credential_id}/evidence")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF_BYTES
        assert response["Cache-Control"] == "private, no-store"


def test_too_large_evidence_is_400_and_leaves_no_row_and_no_file(
    expert_client, credential_form, settings, private_dir
):
    settings.EVIDENCE_MAX_BYTES = 64
    big = SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * 200, content_type="application/pdf")
    response = expert_client.post(CREDENTIALS, {**credential_form, "evidence": big}, format="multipart")
    assert response.status_code == 400
    error = _error_for(response, "evidence")
    assert error["code"] == "file_too_large"
    assert "64" in error["message"]
    assert Credential.objects.count() == 0
    assert not AuditEvent.objects.filter(action="credential.submit").exists()
    assert _files_in(private_dir) == []


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "application/octet-stream"),
        ("notes.pdf", b"Just some text pretending to be a PDF.\n", "application/pdf"),
        ("photo.png", b"GIF89a\x01\x00\x01\x00", "image/png"),
    ],
)
def test_wrong_type_of_evidence_is_400_unsupported_and_leaves_nothing(
    expert_client, credential_form, private_dir, name, content, content_type
):
    upload = SimpleUploadedFile(name, content, content_type=content_type)
    response = expert_client.post(CREDENTIALS, {**credential_form, "evidence": upload}, format="multipart")
    assert response.status_code == 400
    assert _error_for(response, "evidence")["code"] == "unsupported_file_type"
    assert Credential.objects.count() == 0
    assert _files_in(private_dir) == []


def test_empty_evidence_file_is_400(expert_client, credential_form, private_dir):
    upload = SimpleUploadedFile("empty.pdf", b"", content_type="application/pdf")
    response = expert_client.post(CREDENTIALS, {**credential_form, "evidence": upload}, format="multipart")
    assert response.status_code == 400
    assert _error_for(response, "evidence")["code"] == "empty"
    assert Credential.objects.count() == 0


def test_bad_field_with_good_evidence_leaves_no_file(expert_client, credential_form, pdf_upload, private_dir):
    future = (timezone.now().date() + dt.timedelta(days=3)).isoformat()
    response = expert_client.post(
        CREDENTIALS, {**credential_form, "issued_on": future, "evidence": pdf_upload}, format="multipart"
    )
    assert response.status_code == 400
    assert Credential.objects.count() == 0
    assert _files_in(private_dir) == []


# --- Credential fields ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["domain", "kind", "title", "issuer", "issued_on"])
def test_missing_required_credential_field_is_400_naming_it(expert_client, credential_form, field):
    del credential_form[field]
    response = expert_client.post(CREDENTIALS, credential_form, format="json")
    assert response.status_code == 400
    assert _error_for(response, field)["code"] == "required"
    assert Credential.objects.count() == 0


def test_future_issue_date_is_400(expert_client, credential_form):
    tomorrow = timezone.now().date() + dt.timedelta(days=1)
    response = expert_client.post(
        CREDENTIALS, {**credential_form, "issued_on": tomorrow.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert _error_for(response, "issued_on")["code"] == "future_date"
    assert Credential.objects.count() == 0


def test_expiry_before_issue_is_400(expert_client, credential_form):
    response = expert_client.post(
        CREDENTIALS, {**credential_form, "issued_on": "2020-05-01", "expires_on": "2020-04-30"}, format="json"
    )
    assert response.status_code == 400
    assert _error_for(response, "expires_on")["code"] == "before_issue"
    assert Credential.objects.count() == 0


def test_expiry_already_past_is_400(expert_client, credential_form):
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    response = expert_client.post(
        CREDENTIALS, {**credential_form, "expires_on": yesterday.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert _error_for(response, "expires_on")["code"] == "already_expired"


def test_unknown_domain_is_400_naming_domain(expert_client, credential_form):
    response = expert_client.post(CREDENTIALS, {**credential_form, "domain": "astrology"}, format="json")
    assert response.status_code == 400
    error = _error_for(response, "domain")
    assert error["code"] == "does_not_exist"
    assert "astrology" in error["message"]
    assert Credential.objects.count() == 0


def test_inactive_domain_is_400_naming_domain(expert_client, credential_form):
    closed = DomainFactory(slug="alchemy", is_active=False)
    response = expert_client.post(CREDENTIALS, {**credential_form, "domain": closed.path}, format="json")
    assert response.status_code == 400
    assert _error_for(response, "domain")["code"] == "inactive"


def test_unknown_kind_is_400_naming_kind(expert_client, credential_form):
    response = expert_client.post(CREDENTIALS, {**credential_form, "kind": "diploma-mill"}, format="json")
    assert response.status_code == 400
    assert _error_for(response, "kind")["code"] == "invalid_choice"


def test_malformed_date_is_400_naming_the_field(expert_client, credential_form):
    response = expert_client.post(CREDENTIALS, {**credential_form, "issued_on": "15/01/2018"}, format="json")
    assert response.status_code == 400
    assert _error_for(response, "issued_on")["code"] == "invalid"


def test_unknown_credential_field_is_400_naming_it(expert_client, credential_form):
    response = expert_client.post(CREDENTIALS, {**credential_form, "expires_at": "2030-01-01"}, format="json")
    assert response.status_code == 400
    error = _error_for(response, "expires_at")
    assert error["code"] == "unknown_field"
    assert Credential.objects.count() == 0


# --- Request bodies ---------------------------------------------------------------------------


def test_malformed_json_is_400_parse_error():
    response = APIClient().generic(
        "POST", SIGNUP, '{"email": "a@example.org", "password": ', content_type="application/json"
    )
    assert response.status_code == 400
    error = _errors(response)[0]
    assert error["code"] == "parse_error"
    assert error["field"] is None
    assert User.objects.count() == 0


def test_malformed_json_to_an_authenticated_endpoint_is_400_parse_error(staff_client):
    credential = CredentialFactory()
    response = staff_client.generic(
        "POST",
        f"/api/v1/staff/credentials/{credential.pk}/reject",
        "{reason: unquoted}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert _errors(response)[0]["code"] == "parse_error"
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


def test_unknown_signup_field_is_400_naming_it():
    response = APIClient().post(
        SIGNUP, {"email": "a@example.org", "password": GOOD_PASSWORD, "is_staff": True}, format="json"
    )
    assert response.status_code == 400
    error = _error_for(response, "is_staff")
    assert error["code"] == "unknown_field"
    assert User.objects.count() == 0


def test_unknown_fields_are_each_named():
    response = APIClient().post(
        SIGNUP,
        {"email": "a@example.org", "password": GOOD_PASSWORD, "nickname": "x", "role": "admin"},
        format="json",
    )
    assert response.status_code == 400
    assert {e["field"] for e in _errors(response) if e["code"] == "unknown_field"} == {"nickname", "role"}


def test_unknown_field_on_approval_is_400(staff_client):
    credential = CredentialFactory()
    response = staff_client.post(
        f"/api/v1/staff/credentials/{credential.pk}/approve", {"levle": 2}, format="json"
    )
    assert response.status_code == 400
    assert _error_for(response, "levle")["code"] == "unknown_field"
    credential.refresh_from_db()
    assert credential.status == Credential.Status.SUBMITTED


# --- Sign-up ----------------------------------------------------------------------------------


def test_signup_creates_a_logged_in_expert():
    client = APIClient()
    response = client.post(
        SIGNUP,
        {"email": "Dr.Who@Example.org", "password": GOOD_PASSWORD, "full_name": " Who "},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "dr.who@example.org"
    assert body["is_expert"] is True
    assert client.get("/api/v1/me").json()["id"] == body["id"]


@pytest.mark.parametrize("email", ["taken@example.org", "Taken@Example.ORG", "TAKEN@EXAMPLE.ORG"])
def test_duplicate_email_at_signup_is_400_unique_in_any_case(email):
    UserFactory(email="taken@example.org")
    response = APIClient().post(SIGNUP, {"email": email, "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 400
    error = _error_for(response, "email")
    assert error["code"] == "unique"
    assert User.objects.filter(email__iexact="taken@example.org").count() == 1
    assert not AuditEvent.objects.filter(action="user.signup").exists()


@pytest.mark.parametrize("field", ["email", "password"])
def test_missing_signup_field_is_400_naming_it(field):
    body = {"email": "a@example.org", "password": GOOD_PASSWORD}
    del body[field]
    response = APIClient().post(SIGNUP, body, format="json")
    assert response.status_code == 400
    assert _error_for(response, field)["code"] == "required"
    assert User.objects.count() == 0


def test_invalid_email_at_signup_is_400():
    response = APIClient().post(SIGNUP, {"email": "not-an-address", "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 400
    assert _error_for(response, "email")["code"] == "invalid"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("password", "password_too_common"),
        ("8274610395", "password_entirely_numeric"),
    ],
)
def test_weak_password_at_signup_is_400_naming_password(password, code):
    response = APIClient().post(SIGNUP, {"email": "a@example.org", "password": password}, format="json")
    assert response.status_code == 400
    assert code in {e["code"] for e in _errors(response) if e["field"] == "password"}
    assert User.objects.count() == 0


def test_error_messages_never_echo_the_password():
    response = APIClient().post(SIGNUP, {"email": "a@example.org", "password": "Qz7#kw"}, format="json")
    assert response.status_code == 400
    assert b"Qz7#kw" not in response.content


# --- Profile ----------------------------------------------------------------------------------


def test_bad_profile_link_is_400_naming_the_link():
    profile = ExpertProfileFactory()
    client = APIClient()
    client.force_login(profile.user)
    response = client.patch(
        "/api/v1/me/profile",
        {"links": [{"kind": "orcid", "url": "https://orcid.org/0000"}, {"kind": "orcid", "url": "nope"}]},
        format="json",
    )
    assert response.status_code == 400
    assert _error_for(response, "links.1.url")["code"] == "invalid_url"
    profile.refresh_from_db()
    assert profile.links == []


def test_unknown_claimed_domain_is_400_naming_its_position():
    profile = ExpertProfileFactory()
    DomainFactory(slug="law")
    client = APIClient()
    client.force_login(profile.user)
    response = client.patch("/api/v1/me/profile", {"claimed_domains": ["law", "astrology"]}, format="json")
    assert response.status_code == 400
    assert _error_for(response, "claimed_domains.1")["code"] == "does_not_exist"
    assert profile.claimed_domains.count() == 0
