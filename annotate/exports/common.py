"""What every export shares: the filters, the items they select, the blocks of the response."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from annotate.models import Batch, Item, ItemConsensus, Project

CHUNK_SIZE = 2000  # rows per database round trip
BLOCK_BYTES = 64 * 1024  # bytes per piece of the HTTP response

FILE_FORMATS = ("jsonl", "parquet")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}


@dataclass(frozen=True)
class ExportFilters:
    batch: Batch | None = None
    since: dt.datetime | None = None
    min_confidence: float | None = None
    include_gold: bool = False
    # Training formats (dpo, reward, ranking) only.
    include_unfinished: bool = False
    include_metadata: bool = False
    form: str = "standard"


def export_filters(values: dict[str, Any], *, project: Project, batch: Batch | None) -> ExportFilters:
    """The filters of an export from its validated query parameters (the API's and the lab
    console's, ``ProjectExportApi.FilterSerializer``)."""
    return ExportFilters(
        batch=batch,
        since=values.get("since"),
        min_confidence=values.get("min_confidence"),
        include_gold=values["include_gold"],
        include_unfinished=values["include_unfinished"],
        include_metadata="metadata" in values.get("include", ()),
        form=values.get("form") or project.export_form,
    )


def export_filename(
    *, project: Project, export_format: str, now: dt.datetime, file_format: str = "jsonl"
) -> str:
    """``<project-name>-<format>-<UTC time>.<jsonl|parquet>``, safe in a Content-Disposition header."""
    slug = re.sub(r"[^a-z0-9]+", "-", project.name.lower()).strip("-")[:60] or "project"
    return f"{slug}-{export_format}-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{file_format}"


def filtered_items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    """The project's items under the filters, in id order, with their consensus joined."""
    items = Item.objects.filter(project=project)
    if not filters.include_gold:
        items = items.filter(is_gold=False)
    if filters.batch is not None:
        items = items.filter(batch=filters.batch)
    if filters.since is not None:
        since = filters.since
        items = items.filter(Q(finalized_at__gte=since) | Q(consensus__computed_at__gte=since))
    if filters.min_confidence is not None:
        items = items.filter(consensus__confidence__gte=filters.min_confidence)
    return items.select_related("consensus").order_by("id")


CONSENSUS_FIELDS = (
    "consensus__method",
    "consensus__choice",
    "consensus__strength",
    "consensus__ranking",
    "consensus__confidence",
    "consensus__agreement",
    "consensus__label_count",
    "consensus__computed_at",
)


def item_consensus(item: Item) -> ItemConsensus | None:
    try:
        return item.consensus
    except ItemConsensus.DoesNotExist:
        return None


def blocks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines joined into blocks of about ``BLOCK_BYTES``: fewer, larger writes."""
    block: list[bytes] = []
    size = 0
    for line in lines:
        block.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield b"".join(block)
            block, size = [], 0
    if block:
        yield b"".join(block)
