"""The committed contract artifacts are what the committed Vyper source compiles to."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from rewards.chain import ARTIFACT, token_artifact

ROOT = Path(__file__).resolve().parents[2]
VYPER_PYTHON = ROOT / ".venv-vyper" / "bin" / "python"


def test_the_committed_artifact_was_built_from_the_committed_source():
    source = (ARTIFACT.parent.parent / "RewardToken.vy").read_bytes()
    artifact = token_artifact()
    assert artifact["source_sha256"] == hashlib.sha256(source).hexdigest(), "run `make contracts`"
    assert artifact["compiler"].startswith("vyper 0.4.3")
    assert {"transfer_batch", "transfer", "balanceOf", "mint"} <= {f.get("name") for f in artifact["abi"]}


@pytest.mark.skipif(not VYPER_PYTHON.exists(), reason="no .venv-vyper: `make contracts` creates it")
def test_a_fresh_compile_is_byte_identical_to_the_committed_artifact():
    result = subprocess.run(
        [str(VYPER_PYTHON), str(ROOT / "rewards" / "contracts" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
