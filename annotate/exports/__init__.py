"""A project's labels as JSON Lines or Parquet.

JSON Lines is produced row by row so that no export is ever held in memory whole (querysets
are read with ``.iterator(chunk_size=2000)``, lines are yielded in blocks of about 64 KB).
Parquet is written to a temporary file first (:mod:`annotate.exports.parquet`).

Record formats (:mod:`annotate.exports.records`):

``raw``
    One row per label, none left out (``excluded_from_consensus`` says which labels the
    consensus ignores). Responses are named by their canonical ids (the ``id`` the lab gave
    each response): ``choice`` ``A``/``B`` means canonical responses 0/1, ``ranking`` is
    groups of tied ids best first, ``shown_order`` the ids in the order the expert saw them,
    ``criteria`` one ``{response, criterion, rating}`` per rating (a list, so that every
    file has the same column type whatever the responses' ids).
    The annotator is the expert's stable pseudonym, never an e-mail or a user id;
    ``annotator_level`` is their expertise level (0 to 4) in the project's domain at the time
    of the export.

``consensus``
    One row per item (ordinary items; gold ones too with ``include_gold``): the number of
    labels stored and the consensus, its confidence, agreement and method. Until the quality
    step has computed a consensus these fields are ``null``, never guessed.

Training formats (:mod:`annotate.exports.training`), in one form per file (``standard``
strings or ``conversational`` messages; the project's ``export_form`` unless ``form`` is
given), final items only unless ``include_unfinished``, TRL's columns only unless
``include=metadata``:

``dpo``
    ``prompt``, ``chosen``, ``rejected``: one row per preference pair.
``reward``
    ``chosen``, ``rejected`` (prompt included), ``margin``: one row per preference pair.
``ranking``
    ``prompt``, ``completions`` best first, ``ranks``: one row per item.

Filters (all optional): ``batch`` (one batch of the project), ``since`` (raw: labels created
at or after it; other formats: items finalized or whose consensus was computed at or after
it) and ``min_confidence`` (every format but raw; for consensus, giving it leaves out the
items that have no consensus yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import orjson

from annotate.exports.common import (
    BLOCK_BYTES,
    CHUNK_SIZE,
    CONTENT_TYPES,
    FILE_FORMATS,
    ExportFilters,
    blocks,
    export_filename,
    export_filters,
)
from annotate.exports.parquet import RECORD_SCHEMAS, file_blocks, parquet_file, training_schema
from annotate.exports.records import consensus_rows, raw_rows
from annotate.exports.training import (
    FORMS,
    PAIR_METADATA,
    RANKING_METADATA,
    TRAINING_FORMATS,
    dpo_rows,
    preference_pairs,
    prompt_messages,
    prompt_text,
    ranking_rows,
    reward_rows,
)
from annotate.models import Project

EXPORT_FORMATS = ("raw", "consensus", *TRAINING_FORMATS)
PRODUCERS = {
    "raw": raw_rows,
    "consensus": consensus_rows,
    "dpo": dpo_rows,
    "reward": reward_rows,
    "ranking": ranking_rows,
}

__all__ = [
    "export_filters",
    "BLOCK_BYTES",
    "CHUNK_SIZE",
    "CONTENT_TYPES",
    "EXPORT_FORMATS",
    "FILE_FORMATS",
    "FORMS",
    "TRAINING_FORMATS",
    "ExportFilters",
    "consensus_rows",
    "dpo_rows",
    "export_filename",
    "export_lines",
    "export_parquet",
    "preference_pairs",
    "prompt_messages",
    "prompt_text",
    "ranking_rows",
    "raw_rows",
    "reward_rows",
]


def export_lines(*, project: Project, export_format: str, filters: ExportFilters) -> Iterator[bytes]:
    """The export as blocks of whole JSON lines. Nothing is queried until it is iterated."""
    rows = PRODUCERS[export_format](project=project, filters=filters)
    return blocks(orjson.dumps(row) + b"\n" for row in rows)


def export_schema(*, export_format: str, filters: ExportFilters):
    """The Arrow schema of a format's Parquet file under these filters."""
    if export_format in RECORD_SCHEMAS:
        return RECORD_SCHEMAS[export_format]
    metadata = ()
    if filters.include_metadata:
        metadata = RANKING_METADATA if export_format == "ranking" else PAIR_METADATA
    return training_schema(export_format=export_format, form=filters.form, metadata_columns=metadata)


def export_parquet(*, project: Project, export_format: str, filters: ExportFilters) -> IO[bytes]:
    """The export written to a temporary Parquet file (see :func:`parquet_file`), rewound."""
    rows = PRODUCERS[export_format](project=project, filters=filters)
    return parquet_file(rows=rows, schema=export_schema(export_format=export_format, filters=filters))


def export_parquet_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    return file_blocks(handle)
