"""The client stands on its own (the standard library and httpx, nothing of the server), and
its retry rules, without a server."""

from __future__ import annotations

import ast
import email.utils
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import rlhf_client
from rlhf_client._core import Call, Core
from rlhf_client.errors import RlhfError, retry_after_seconds

PACKAGE = Path(rlhf_client.__file__).parent
# What the client may import at module level: its declared dependency and itself
# (datasets and pandas only lazily, when asked for).
ALLOWED = {"httpx", "rlhf_client", "datasets"}


def test_the_package_imports_only_the_standard_library_and_httpx():
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED, f"{source.name} imports {name}"


def test_importing_the_client_loads_nothing_of_the_server():
    code = (
        "import sys, rlhf_client, rlhf_client.cli\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'django', 'annotate', 'rlhf_platform', 'datasets'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert result.stdout.strip() == "[]"


def test_py_typed_and_the_console_script_are_declared():
    assert (PACKAGE / "py.typed").exists()
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert 'rlhf = "rlhf_client.cli:main"' in pyproject and '"httpx>=0.28"' in pyproject


def _core(**options) -> Core:
    return Core(api_key="rlhf_x_y", base_url="http://127.0.0.1:9", **options)


def _response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_in_seconds_or_as_a_date_or_from_ratelimit_reset():
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < retry_after_seconds({"retry-after": later}) <= 120
    assert retry_after_seconds({"RateLimit-Reset": "3"}) == 3
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_which_answers_are_retried():
    core = _core(max_retries=2)
    read, create = Call("projects.get", path={"project_id": "p"}), Call("projects.create", json={})
    assert core.retry_wait(read, 0, _response(429, **{"Retry-After": "2"})) == 2
    assert core.retry_wait(read, 0, _response(503, **{"Retry-After": "1"})) == 1
    assert core.retry_wait(read, 0, _response(503)) is None  # no Retry-After: not retried
    assert core.retry_wait(read, 0, _response(500)) is None
    assert core.retry_wait(read, 2, _response(429, **{"Retry-After": "1"})) is None  # retries spent
    assert core.retry_wait(read, 0, _response(429, **{"Retry-After": "9999"})) == 60  # capped
    assert core.retry_wait(read, 0, None) is not None  # a dropped connection: reads again
    assert core.retry_wait(create, 0, None) is None  # never creates twice


def test_a_key_is_required_and_may_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("RLHF_API_KEY", raising=False)
    with pytest.raises(RlhfError, match="RLHF_API_KEY"):
        Core(api_key=None, base_url=None)
    monkeypatch.setenv("RLHF_API_KEY", "rlhf_a_b")
    monkeypatch.setenv("RLHF_BASE_URL", "https://rlhf.example.org/")
    core = Core(api_key=None, base_url=None)
    assert core.headers["Authorization"] == "Bearer rlhf_a_b"
    assert core.url(Call("items.get", path={"project_id": "p", "external_id": "a/b c"})) == (
        "https://rlhf.example.org/api/v1/projects/p/items/by-external-id/a%2Fb%20c"
    )
