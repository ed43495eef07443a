"""docs/api.md and the OpenAPI schema name the same operations: every operation of the schema
is in the guide, and every operation the guide names (a method and a path in one code span,
``GET POST projects/{id}/exams``) is in the schema, so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _normal(path: str) -> str:
    """``/api/v1/projects/{project_id}?state=`` -> ``projects/{}``."""
    path = path.split("?")[0].rstrip(",").removeprefix("/api/v1/")
    return re.sub(r"\{[^}]*\}", "{}", path)


def _schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), _normal(path)) for path, ops in schema["paths"].items() for method in ops}


def _guide_operations() -> set[tuple[str, str]]:
    named = set()
    for line in GUIDE.read_text().splitlines():
        if line.startswith("```"):
            continue
        for span in re.findall(r"`([^`]+)`", line):
            words = span.split()
            if not words or words[0] not in METHODS:
                continue
            methods = [word for word in words if word in METHODS]
            for word in words:
                if word not in METHODS:
                    named |= {(method, _normal(word)) for method in methods}
    return named


def test_every_operation_of_the_schema_is_in_the_guide():
    missing = _schema_operations() - _guide_operations()
    assert not missing, sorted(missing)


def test_every_operation_the_guide_names_is_in_the_schema():
    unknown = _guide_operations() - _schema_operations()
    assert not unknown, sorted(unknown)
