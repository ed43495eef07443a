"""Upload bodies: a file, a generator of dicts or a pandas DataFrame becomes a seekable byte
stream of known size (the server reads it as it arrives and reports progress against its
Content-Length) and a SHA-256 (the Idempotency-Key made from it, so a retried or repeated
upload of the same body returns the first batch instead of a second)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 16
SPOOL_IN_MEMORY = 16 << 20
NDJSON = "application/x-ndjson"
JSON = "application/json"

ItemSource = str | os.PathLike[str] | bytes | Iterable[Mapping[str, Any]] | Any


@dataclass
class UploadBody:
    file: IO[bytes]
    size: int
    sha256: str
    content_type: str
    owned: bool  # opened here, closed here

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    async def achunks(self) -> AsyncIterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def idempotency_key(self, *, on_duplicate: str, priority: int) -> str:
        """The same body with the same options gives the same key (at most 200 characters)."""
        return f"sha256-{self.sha256}-{on_duplicate}-{priority}"

    def close(self) -> None:
        if self.owned:
            self.file.close()

    def __enter__(self) -> UploadBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (as a DataFrame holds them) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_dataframe(source: Any) -> bool:
    return hasattr(source, "to_dict") and hasattr(source, "columns") and hasattr(source, "iloc")


def _dataframe_records(frame: Any) -> Iterator[dict[str, Any]]:
    """Rows as records; a missing cell (None, NaN) leaves its key out."""
    for row in frame.to_dict(orient="records"):
        yield {str(k): v for k, v in row.items() if not (not isinstance(v, list | dict) and _missing(v))}


def _file_body(path: Path) -> UploadBody:
    digest = hashlib.sha256()
    handle = path.open("rb")
    try:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
        size = handle.tell()
    except BaseException:
        handle.close()
        raise
    content_type = JSON if path.suffix.lower() == ".json" else NDJSON
    return UploadBody(handle, size, digest.hexdigest(), content_type, owned=True)


def _records_body(records: Iterable[Mapping[str, Any]]) -> UploadBody:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by the body)
    digest = hashlib.sha256()
    size = 0
    try:
        for record in records:
            if not isinstance(record, Mapping):
                raise TypeError(f"An item is a dict (a JSON object), not {type(record).__name__}.")
            line = json.dumps(dict(record), ensure_ascii=False, separators=(",", ":"), default=_plain)
            data = line.encode() + b"\n"
            digest.update(data)
            spool.write(data)
            size += len(data)
    except BaseException:
        spool.close()
        raise
    return UploadBody(spool, size, digest.hexdigest(), NDJSON, owned=True)


def upload_body(source: ItemSource) -> UploadBody:
    """A path (``.json``: a JSON array, anything else JSON Lines), bytes (JSON Lines), a pandas
    DataFrame (one item a row) or an iterable of dicts (one item each)."""
    if isinstance(source, str | os.PathLike):
        return _file_body(Path(source))
    if isinstance(source, bytes | bytearray):
        return _records_body_raw(bytes(source))
    if _is_dataframe(source):
        return _records_body(_dataframe_records(source))
    if isinstance(source, Mapping):
        raise TypeError("Pass an iterable of items (e.g. a list of dicts), not one dict.")
    return _records_body(source)


def _records_body_raw(data: bytes) -> UploadBody:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by the body)
    spool.write(data)
    return UploadBody(spool, len(data), hashlib.sha256(data).hexdigest(), NDJSON, owned=True)
