"""A dry run of an upload: the body validated as the real upload validates it, nothing written.

The body streams through the same reader and validators as ``batch_receive`` (a line at a time,
never held whole), then the ``external_id`` values are checked against the project's items as
the ingest would check them. No batch row, no chunk, no item, no audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from annotate.ingest.services import _content_kind, _read_chunks, _Reading
from annotate.ingest.validate import LineError
from annotate.models import Batch, Item, Project
from rlhf_platform.core.exceptions import ApplicationError

_ID_SLICE = 1000  # external ids looked up per query


@dataclass
class DryRun:
    lines: int = 0
    items: int = 0  # items the upload would create
    skipped: int = 0  # duplicates it would skip (on_duplicate=skip)
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int = 0

    @property
    def valid(self) -> bool:
        return self.error_count == 0


def batch_dry_run(
    *, project: Project, stream: BinaryIO, content_type: str, on_duplicate: str = Batch.OnDuplicate.ERROR
) -> DryRun:
    """Validate an upload's body without writing anything: the count of items it would create
    and every line error it would be refused with (the first 1,000 listed)."""
    kind = _content_kind(content_type)
    if on_duplicate not in Batch.OnDuplicate.values:
        raise ApplicationError(
            "on_duplicate is 'error' or 'skip'.", code="invalid_choice", field="on_duplicate"
        )
    if project.status == Project.Status.ARCHIVED:
        raise ApplicationError("The project is archived.", code="project_archived", status_code=409)
    # An unsaved batch: the reader takes its project's schema, its body kind and on_duplicate.
    batch = Batch(project=project, content_type=kind, on_duplicate=on_duplicate)
    reading = _Reading(batch, progress=False)
    size = 0

    def chunks():
        nonlocal size
        for chunk in _read_chunks(stream):
            size += len(chunk)
            yield chunk

    body = chunks()
    for _record in reading.records(body):
        pass
    for _chunk in body:  # the rest of a body whose parsing stopped at an error
        pass
    if size == 0:
        raise ApplicationError("The body is empty: send at least one item.", code="empty")
    existing = _existing_ids(project, reading.seen)
    skipped = reading.skipped_in_batch
    if existing:
        if on_duplicate == Batch.OnDuplicate.SKIP:
            skipped += len(existing)
        else:
            for external_id in existing:
                reading.errors.add(
                    LineError(
                        reading.seen[external_id],
                        "external_id",
                        "duplicate",
                        f"external_id {external_id!r} already exists in this project.",
                    )
                )
    items = 0 if reading.errors.count else len(reading.seen) - len(existing)
    return DryRun(
        lines=reading.lines,
        items=items,
        skipped=skipped if not reading.errors.count else 0,
        error_count=reading.errors.count,
        errors=sorted(reading.errors.items, key=lambda e: e["line"]),
        size_bytes=size,
    )


def _existing_ids(project: Project, seen: dict[str, int]) -> list[str]:
    """The ids of ``seen`` that the project already holds, in line order."""
    ids = sorted(seen, key=seen.__getitem__)
    found: set[str] = set()
    for start in range(0, len(ids), _ID_SLICE):
        found.update(
            Item.objects.filter(project=project, external_id__in=ids[start : start + _ID_SLICE]).values_list(
                "external_id", flat=True
            )
        )
    return [external_id for external_id in ids if external_id in found]
