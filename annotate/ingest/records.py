"""Splitting a batch body into records without holding it in memory."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import ijson

NDJSON_TYPES = {
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-lines",
}
JSON_TYPES = {"application/json"}


class RecordParseError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def ndjson_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes) for every non-blank line."""
    pending = b""
    number = 0
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
    if pending.strip():
        yield number + 1, pending


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks, for ijson."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def json_array_items(chunks: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(1-based position in the array, decoded element) for a top-level JSON array, streamed."""
    chunks = iter(chunks)
    first = b""
    for first in chunks:
        if first.strip():
            break
    if not first.lstrip().startswith(b"["):
        raise RecordParseError(1, "An application/json body must be a JSON array of items.")
    reader = io.BufferedReader(_ChunkReader(_prepend(first, chunks)), buffer_size=1 << 20)
    position = 0
    try:
        for position, element in enumerate(ijson.items(reader, "item", use_float=True), start=1):
            yield position, element
    except ijson.common.JSONError as exc:
        raise RecordParseError(position + 1, f"Malformed JSON after element {position}: {exc}") from exc


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
