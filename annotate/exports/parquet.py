"""Exports as Parquet: the same rows as JSON Lines, with a fixed Arrow schema per format and
form, so that every file of a format has the same column types (a column that is null
throughout keeps its type).

A Parquet file's footer is written last, so the file cannot be streamed as it is made: it is
written to a temporary file on disk in row groups of at most :data:`ROW_GROUP_ROWS` rows or
:data:`ROW_GROUP_CHARS` characters of text (one row group is in memory at a time: a response
may hold 200,000 characters, and a ranking row eight of them), then streamed. A file past
``EXPORT_PARQUET_MAX_BYTES`` is abandoned with 413 ``export_too_large`` (JSON Lines has no
such limit).

The one difference from JSON Lines: times are UTC timestamps rather than ISO 8601 strings.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from rlhf_platform.core.exceptions import ApplicationError

ROW_GROUP_ROWS = 1000
ROW_GROUP_CHARS = 16 * 1024 * 1024
READ_BYTES = 1024 * 1024

STRING = pa.string()
FLOAT = pa.float64()
INT = pa.int64()
TIME = pa.timestamp("us", tz="UTC")
GROUPS = pa.list_(pa.list_(STRING))  # a ranking: groups of tied response ids, best first
MESSAGES = pa.list_(pa.struct([("role", STRING), ("content", STRING)]))

RECORD_SCHEMAS = {
    "raw": pa.schema(
        [
            ("label_id", STRING),
            ("external_id", STRING),
            ("item_uid", STRING),
            ("batch", STRING),
            ("is_gold", pa.bool_()),
            ("annotator", STRING),
            ("annotator_level", INT),
            ("choice", STRING),
            ("ranking", GROUPS),
            ("strength", INT),
            ("strength_level", STRING),
            ("criteria", pa.list_(pa.struct([("response", STRING), ("criterion", STRING), ("rating", INT)]))),
            ("rationale", STRING),
            ("active_seconds", FLOAT),
            ("lease_seconds", FLOAT),
            ("shown_order", pa.list_(STRING)),
            ("excluded_from_consensus", pa.bool_()),
            ("schema_version", INT),
            ("created_at", TIME),
        ]
    ),
    "consensus": pa.schema(
        [
            ("external_id", STRING),
            ("uid", STRING),
            ("batch", STRING),
            ("is_gold", pa.bool_()),
            ("state", STRING),
            ("label_count", INT),
            ("finalized_at", TIME),
            ("consensus", pa.struct([("choice", STRING), ("strength", FLOAT), ("ranking", GROUPS)])),
            ("confidence", FLOAT),
            ("agreement", FLOAT),
            ("method", STRING),
            ("consensus_label_count", INT),
            ("computed_at", TIME),
        ]
    ),
}

METADATA_TYPES = {
    "external_id": STRING,
    "uid": STRING,
    "batch": STRING,
    "chosen_id": STRING,
    "rejected_id": STRING,
    "completion_ids": pa.list_(STRING),
    "confidence": FLOAT,
    "agreement": FLOAT,
    "method": STRING,
}


def training_schema(*, export_format: str, form: str, metadata_columns: Iterable[str] = ()) -> pa.Schema:
    text = STRING if form == "standard" else MESSAGES
    columns = {
        "dpo": [("prompt", text), ("chosen", text), ("rejected", text)],
        "reward": [("chosen", text), ("rejected", text), ("margin", FLOAT)],
        "ranking": [("prompt", text), ("completions", pa.list_(text)), ("ranks", pa.list_(INT))],
    }[export_format]
    return pa.schema(columns + [(name, METADATA_TYPES[name]) for name in metadata_columns])


def _stringify(value: Any) -> Any:
    """A value for a string column: ids (UUIDs) as text."""
    return value if value is None or isinstance(value, str) else str(value)


def _chars(value: Any) -> int:
    """About how much text a row holds (what decides its size in memory)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    return 8


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    strings = [field.name for field in schema if field.type == STRING]
    for row in rows:
        for name in strings:
            row[name] = _stringify(row.get(name))
    return pa.Table.from_pylist(rows, schema=schema)


def _too_large(limit: int) -> ApplicationError:
    return ApplicationError(
        f"This export is larger than {limit} bytes as Parquet: download it as JSON Lines "
        "(file_format=jsonl, streamed, no limit) or narrow it with batch or since.",
        code="export_too_large",
        field="file_format",
        status_code=413,
    )


def parquet_file(*, rows: Iterable[dict[str, Any]], schema: pa.Schema) -> IO[bytes]:
    """The rows written to a temporary Parquet file, rewound; the caller closes it (closing
    deletes it). Raises 413 ``export_too_large`` past ``EXPORT_PARQUET_MAX_BYTES``."""
    limit = settings.EXPORT_PARQUET_MAX_BYTES
    out = tempfile.TemporaryFile(prefix="export-", suffix=".parquet")
    try:
        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            group: list[dict[str, Any]] = []
            chars = 0
            for row in rows:
                group.append(row)
                chars += _chars(row)
                if len(group) >= ROW_GROUP_ROWS or chars >= ROW_GROUP_CHARS:
                    writer.write_table(_table(group, schema))
                    group, chars = [], 0
                    if out.tell() > limit:
                        raise _too_large(limit)
            if group:  # the rest (an empty export is its schema alone)
                writer.write_table(_table(group, schema))
        if out.tell() > limit:
            raise _too_large(limit)
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


def file_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    """The file in pieces of :data:`READ_BYTES`; closed (and so deleted) at the end, or when
    the client hangs up (the generator is closed)."""
    try:
        while piece := handle.read(READ_BYTES):
            yield piece
    finally:
        handle.close()
