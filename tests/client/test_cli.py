"""The ``rlhf`` command (the client's console script) run as a process against the live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import records
from tests.client.test_client_live import _finalize

pytestmark = pytest.mark.django_db(transaction=True)


def rlhf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = shutil.which("rlhf", path=str(Path(sys.executable).parent))
    assert command, "the rlhf console script is not installed (make install: pip install -e client/)"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RLHF_")}
    return subprocess.run(
        [command, *args], env={**environment, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_upload_status_and_export_from_the_shell(live_url, lab_key, project, tmp_path):
    source = tmp_path / "items.jsonl"
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records(12)), encoding="utf-8"
    )
    env = {"RLHF_BASE_URL": live_url, "RLHF_API_KEY": lab_key[2]}

    uploaded = rlhf("upload", str(source), "--project", project.id, env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    batch = json.loads(uploaded.stdout)
    assert batch["status"] == "ingested" and batch["items_created"] == 12

    status = rlhf("status", batch["id"], env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["id"] == batch["id"]

    _finalize(project.id)
    target = tmp_path / "train.jsonl"
    exported = rlhf("export", "--project", project.id, "--format", "dpo", "-o", str(target), env=env)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12 and set(rows[0]) == {"prompt", "chosen", "rejected"}


def test_flags_instead_of_the_environment_and_errors_on_stderr(live_url, lab_key, project, tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in records(2)] + ['{"external_id": "z", "prompt": "?"}']
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = ["--base-url", live_url, "--api-key", lab_key[2]]

    refused = rlhf(*flags, "upload", str(bad), "--project", project.id)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "HTTP 400" in refused.stderr and "line 3, field responses" in refused.stderr

    dry = rlhf(*flags, "upload", str(bad), "--project", project.id, "--dry-run")
    assert dry.returncode == 1 and json.loads(dry.stdout)["error_count"] == 1

    missing = rlhf(*flags, "status", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "not_found" in missing.stderr

    no_key = rlhf("--base-url", live_url, "status", "x")
    assert no_key.returncode == 1 and "RLHF_API_KEY" in no_key.stderr
