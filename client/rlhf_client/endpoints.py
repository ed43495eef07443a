"""Every endpoint the client calls, in one table.

``tests/client/test_openapi_drift.py`` reads this table and checks each (method, path), query
parameter and header against the server's OpenAPI schema, so the client and the API cannot
drift apart. The request layer refuses a query parameter that is not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

API = "/api/v1"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    # Safe to send again after a connection error (reads, and writes that are idempotent).
    idempotent: bool = True


PAGE = ("cursor", "page_size")

ENDPOINTS: dict[str, Endpoint] = {
    "lab": Endpoint("GET", f"{API}/lab"),
    "projects.list": Endpoint("GET", f"{API}/projects", (*PAGE, "status", "domain")),
    "projects.create": Endpoint("POST", f"{API}/projects", idempotent=False),
    "projects.get": Endpoint("GET", f"{API}/projects/{{project_id}}"),
    "projects.update": Endpoint("PATCH", f"{API}/projects/{{project_id}}", idempotent=False),
    "projects.progress": Endpoint("GET", f"{API}/projects/{{project_id}}/progress"),
    "batches.upload": Endpoint(
        "POST",
        f"{API}/projects/{{project_id}}/batches",
        ("on_duplicate", "priority", "dry_run"),
        ("Idempotency-Key",),
    ),
    "batches.list": Endpoint("GET", f"{API}/projects/{{project_id}}/batches", (*PAGE, "status")),
    "batches.get": Endpoint("GET", f"{API}/batches/{{batch_id}}"),
    "batches.cancel": Endpoint("POST", f"{API}/batches/{{batch_id}}/cancel"),
    "uploads.get": Endpoint("GET", f"{API}/projects/{{project_id}}/uploads/{{idempotency_key}}"),
    "items.list": Endpoint(
        "GET", f"{API}/projects/{{project_id}}/items", (*PAGE, "state", "batch", "external_id")
    ),
    "items.get": Endpoint("GET", f"{API}/projects/{{project_id}}/items/by-external-id/{{external_id}}"),
    "export": Endpoint(
        "GET",
        f"{API}/projects/{{project_id}}/export",
        (
            "format",
            "file_format",
            "batch",
            "since",
            "min_confidence",
            "include_gold",
            "form",
            "include",
            "include_unfinished",
        ),
    ),
}
