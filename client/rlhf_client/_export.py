"""Exports into Hugging Face ``datasets`` (imported only when asked for: ``pip install
rlhf-client[datasets]``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import datasets  # type: ignore[import-not-found, unused-ignore]

FILE_FORMATS = ("jsonl", "parquet")


class ExportFilters(TypedDict, total=False):
    """The export's query parameters besides ``format`` and ``file_format`` (docs/api.md)."""

    batch: str
    since: Any  # a datetime or an ISO 8601 string
    min_confidence: float
    include_gold: bool
    form: str  # standard or conversational
    include: str | list[str]  # metadata
    include_unfinished: bool


def export_suffix(file_format: str) -> str:
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format is one of {', '.join(FILE_FORMATS)}")
    return file_format


@contextmanager
def scratch_file(file_format: str) -> Iterator[Path]:
    """A temporary file for a download that ``datasets`` then loads into memory."""
    with tempfile.TemporaryDirectory(prefix="rlhf-export-") as folder:
        yield Path(folder) / f"export.{export_suffix(file_format)}"


def load_dataset(path: Path, file_format: str, **kwargs: Any) -> datasets.Dataset:
    """The file as a ``datasets.Dataset`` held in memory (its cache under the file's folder,
    so nothing is left behind)."""
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "to_datasets needs Hugging Face datasets: pip install 'rlhf-client[datasets]'"
        ) from exc
    kwargs.setdefault("cache_dir", str(path.parent / "cache"))
    kwargs.setdefault("keep_in_memory", True)
    if file_format == "parquet":
        loaded = datasets.Dataset.from_parquet(str(path), **kwargs)
    else:
        loaded = datasets.Dataset.from_json(str(path), **kwargs)
    return loaded  # type: ignore[no-any-return, return-value, unused-ignore]
