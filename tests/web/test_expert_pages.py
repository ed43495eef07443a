"""The expert's profile and credential submission, through the HTML pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from rlhf_platform.experts.models import Credential
from tests.factories import CredentialFactory, DomainFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def expert_web(client, expert):
    client.force_login(expert.user)
    return client


def _private_files() -> list[str]:
    storage = storages["private"]
    found = []

    def walk(folder: str) -> None:
        if not storage.exists(folder):
            return
        dirs, files = storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        for name in dirs:
            walk(f"{folder}/{name}")

    walk("evidence")
    return found


def test_profile_shows_pseudonym_levels_and_credentials_with_evidence_link(expert_web, expert, domain):
    approved = CredentialFactory(expert=expert, domain=domain, approved=True, title="MD")
    rejected = CredentialFactory(
        expert=expert, domain=domain, status=Credential.Status.REJECTED, decision_reason="Illegible scan."
    )
    approved.evidence.save("x.pdf", SimpleUploadedFile("x.pdf", PDF), save=True)
    response = expert_web.get(reverse("profile"))
    assert response.status_code == 200
    html = response.content.decode()
    assert expert.pseudonym in html
    assert response.context["levels"] == [{"domain": "medicine", "level": 3, "label": "expert"}]
    assert f'id="credential-{approved.pk}"' in html and f'id="credential-{rejected.pk}"' in html
    assert "Illegible scan." in html
    assert reverse("api-credential-evidence", kwargs={"credential_id": approved.pk}) in html
    assert "js/profile_live.js" in html  # live updates over /ws/notifications/


def test_profile_update_saves_bio_links_and_claimed_domains(expert_web, expert, domain):
    other = DomainFactory(slug="law")
    response = expert_web.post(
        reverse("profile"),
        {
            "bio": "Cardiologist, 12 years.",
            "claimed_domains": [str(domain.pk), str(other.pk)],
            "links-TOTAL_FORMS": "2",
            "links-INITIAL_FORMS": "0",
            "links-0-kind": "orcid",
            "links-0-url": "https://orcid.org/0000-0002-1825-0097",
            "links-1-kind": "website",
            "links-1-url": "",
        },
    )
    assert response.status_code == 302
    expert.refresh_from_db()
    assert expert.bio == "Cardiologist, 12 years."
    assert expert.links == [{"kind": "orcid", "url": "https://orcid.org/0000-0002-1825-0097"}]
    assert set(expert.claimed_domains.all()) == {domain, other}
    page = expert_web.get(reverse("profile"))
    assert b"https://orcid.org/0000-0002-1825-0097" in page.content


def test_profile_update_with_a_bad_link_shows_it_on_that_row_and_saves_nothing(expert_web, expert):
    response = expert_web.post(
        reverse("profile"),
        {
            "bio": "New bio",
            "links-TOTAL_FORMS": "3",
            "links-INITIAL_FORMS": "0",
            "links-0-kind": "orcid",
            "links-0-url": "",
            "links-1-kind": "website",
            "links-1-url": "https://example.org",
            "links-2-kind": "github",
            "links-2-url": "not a url",
        },
    )
    assert response.status_code == 200
    rows = response.context["link_forms"]
    # The empty first row is dropped before the service sees the list; the error still
    # lands on the row the person typed it in.
    assert rows[2].errors["url"] == ["Enter a valid http(s) URL."]
    assert not rows[1].errors
    assert response.context["form"]["bio"].value() == "New bio"
    expert.refresh_from_db()
    assert expert.bio == ""


def _credential_data(domain, **overrides):
    today = timezone.now().date()
    data = {
        "domain": str(domain.pk),
        "kind": "licence",
        "title": "Board certification in cardiology",
        "issuer": "American Board of Internal Medicine",
        "identifier": "ABIM-123",
        "issued_on": (today - dt.timedelta(days=400)).isoformat(),
        "expires_on": (today + dt.timedelta(days=400)).isoformat(),
        "evidence": SimpleUploadedFile("licence.pdf", PDF, content_type="application/pdf"),
    }
    data.update(overrides)
    return data


def test_submitting_a_credential_with_evidence_lists_it_as_submitted(expert_web, expert, domain):
    response = expert_web.post(reverse("credential-new"), _credential_data(domain))
    assert response.status_code == 302
    assert response["Location"] == reverse("profile")
    credential = Credential.objects.get(expert=expert)
    assert credential.status == Credential.Status.SUBMITTED
    assert credential.evidence_content_type == "application/pdf"
    assert credential.evidence_name == "licence.pdf"
    page = expert_web.get(reverse("profile"))
    assert b"Board certification in cardiology" in page.content
    assert b"status-submitted" in page.content


def test_credential_form_renders_with_the_active_domains_only(expert_web, domain):
    DomainFactory(slug="closed", is_active=False)
    response = expert_web.get(reverse("credential-new"))
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b"csrfmiddlewaretoken" in response.content
    assert list(response.context["form"].fields["domain"].queryset) == [domain]


def test_a_future_issue_date_is_shown_at_that_field_and_the_form_is_kept(expert_web, expert, domain):
    future = (timezone.now().date() + dt.timedelta(days=3)).isoformat()
    response = expert_web.post(reverse("credential-new"), _credential_data(domain, issued_on=future))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["issued_on"] == ["The issue date is in the future."]
    assert form["title"].value() == "Board certification in cardiology"
    assert b'id="id_issued_on_error"' in response.content
    assert not Credential.objects.exists()
    assert _private_files() == []


def test_evidence_of_the_wrong_type_is_refused_and_nothing_is_stored(expert_web, domain):
    fake = SimpleUploadedFile("cv.pdf", b"MZ\x90\x00 not really a pdf", content_type="application/pdf")
    response = expert_web.post(reverse("credential-new"), _credential_data(domain, evidence=fake))
    assert response.status_code == 200
    assert "must be a PDF, PNG or JPEG" in response.context["form"].errors["evidence"][0]
    assert not Credential.objects.exists()
    assert _private_files() == []


def test_too_large_evidence_is_refused_with_the_limit(expert_web, domain, settings):
    settings.EVIDENCE_MAX_BYTES = 16
    response = expert_web.post(reverse("credential-new"), _credential_data(domain))
    assert response.status_code == 200
    message = response.context["form"].errors["evidence"][0]
    assert "the limit is 16 bytes" in message
    assert not Credential.objects.exists()


def test_a_missing_required_field_is_reported_by_the_form(expert_web, domain):
    response = expert_web.post(reverse("credential-new"), _credential_data(domain, title=""))
    assert response.status_code == 200
    assert response.context["form"].errors["title"] == ["This field is required."]


def test_expert_pages_ask_anonymous_visitors_to_log_in(client):
    for name in ("profile", "credential-new"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_form_asks_for_the_evidence_again_only_when_a_file_was_chosen(expert_web, domain):
    with_file = expert_web.post(reverse("credential-new"), _credential_data(domain, title=""))
    assert b"choose the evidence file again" in with_file.content
    without = _credential_data(domain, title="")
    del without["evidence"]
    response = expert_web.post(reverse("credential-new"), without)
    assert response.status_code == 200 and response.context["form"].errors["title"]
    assert b"choose the evidence file again" not in response.content
