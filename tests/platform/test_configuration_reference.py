"""docs/configuration.md is the configuration reference: every environment variable the settings
read is documented there, so the reference cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = re.compile(
    r"""(?:os\.environ\.get|os\.environ|env_bool|env_list|os\.getenv)\s*[(\[]\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def _read_by_settings() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "rlhf_platform").glob("settings*.py"):
        names |= set(READERS.findall(path.read_text()))
    return names


def test_every_variable_the_settings_read_is_in_the_configuration_reference():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text()))
    read = _read_by_settings()
    assert len(read) > 50  # the pattern finds the settings' variables
    assert sorted(read - documented) == []
