"""The demo seed (``make run``) holds final items: a newcomer downloads every export format, in
both file formats, with rows in each."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from annotate.exports import EXPORT_FORMATS, FILE_FORMATS
from annotate.models import Item, Project
from rlhf_platform.accounts.models import Lab
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def test_every_export_format_of_every_demo_project_has_rows(api_client):
    call_command("seed_demo", stdout=io.StringIO())
    lab = Lab.objects.get(slug="demo-lab")
    _key, raw = make_api_key(lab)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    projects = Project.objects.filter(lab=lab)
    assert {project.label_schema["kind"] for project in projects} == {"pairwise", "ranking"}
    for project in projects:
        assert Item.objects.filter(project=project, state=Item.State.FINAL).exists(), project.name
        # Items are left for the demo's experts to label.
        assert Item.objects.filter(project=project, state=Item.State.OPEN, is_gold=False).exists(), (
            project.name
        )
        for export_format in EXPORT_FORMATS:
            for file_format in FILE_FORMATS:
                response = api_client.get(
                    f"/api/v1/projects/{project.pk}/export?format={export_format}&file_format={file_format}"
                )
                assert response.status_code == 200
                content = b"".join(response.streaming_content)
                rows = (
                    len(content.splitlines())
                    if file_format == "jsonl"
                    else pq.read_metadata(io.BytesIO(content)).num_rows
                )
                assert rows > 0, (project.name, export_format, file_format)
    # A second run adds nothing.
    labels = sum(project.labels.count() for project in projects)
    call_command("seed_demo", stdout=io.StringIO())
    assert sum(project.labels.count() for project in projects) == labels
