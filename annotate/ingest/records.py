"""Splitting a batch body into records without holding it in memory."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import ijson

from annotate.ingest.limits import MAX_ITEM_BYTES
from rlhf_platform.core.json_depth import JsonDepthScanner

NDJSON_TYPES = {
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-lines",
}
JSON_TYPES = {"application/json"}


class RecordParseError(Exception):
    def __init__(self, line: int, message: str, code: str = "parse_error") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.code = code


BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, which some editors and exports write first


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks with a UTF-8 byte order mark at the very start of the body dropped (JSON
    forbids one, but a file saved with it is still the lab's records)."""
    head = b""
    chunks = iter(chunks)
    for chunk in chunks:
        head += chunk
        if len(head) >= len(BOM) or not BOM.startswith(head):
            break
    yield head.removeprefix(BOM)
    yield from chunks


def ndjson_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes) for every non-blank line (a line may end with CRLF; a
    byte order mark before the first is dropped). A line growing past ``MAX_ITEM_BYTES``
    without its end is refused before it is held whole."""
    pending = b""
    number = 0
    for chunk in _without_bom(chunks):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
        if len(pending) > MAX_ITEM_BYTES:
            raise RecordParseError(
                number + 1,
                f"Line {number + 1} is longer than {MAX_ITEM_BYTES:,} bytes, the most one item may take.",
                code="too_large",
            )
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


_SURROGATE_ESCAPE = re.compile(rb"\\u([dD][89a-fA-F][0-9a-fA-F]{2})")  # \uD800 to \uDFFF
_LOW_ESCAPE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_CONTEXT = 64  # bytes kept before the next chunk, for the backslash run before an escape


class LoneSurrogate(Exception):
    pass


def _escapes(data: bytes, start: int) -> bool:
    """Whether the backslash at ``start`` begins an escape (an even run of backslashes before)."""
    run = 0
    while start - run - 1 >= 0 and data[start - run - 1] == 0x5C:
        run += 1
    return run % 2 == 0


class _SurrogateScan:
    """Finds a lone UTF-16 surrogate escape in a JSON text fed in chunks.

    ijson's yajl backend turns one into "?" without a word, so a batch would store text other
    than what the lab sent; the standard library keeps it, and then no database can store it.
    A high surrogate must be followed at once by a low one, and a low one must follow a high
    one. Pairs (an emoji written as \\ud83d\\ude00) are fine.
    """

    def __init__(self) -> None:
        self.carry = b""
        self.judged = 0  # escapes starting before this offset of ``carry`` were judged

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        data = self.carry + chunk
        position = self.judged
        while (found := _SURROGATE_ESCAPE.search(data, position)) is not None:
            start = found.start()
            position = found.end()
            if not _escapes(data, start):
                continue  # a literal backslash followed by the letters "ud..."
            if int(found.group(1), 16) >= 0xDC00:
                raise LoneSurrogate
            if found.end() + 6 > len(data) and not final:
                self.carry, self.judged = data[max(0, start - _CONTEXT) :], min(start, _CONTEXT)
                return  # its low half may come with the next chunk
            if not _LOW_ESCAPE.match(data, found.end()):
                raise LoneSurrogate
            position = found.end() + 6
        self.carry = data[-_CONTEXT:]
        # An escape starting in the last 5 bytes was not complete yet.
        self.judged = max(0, len(self.carry) - 5, position - (len(data) - len(self.carry)))


def _scanned(chunks: Iterable[bytes]) -> Iterator[bytes]:
    scan = _SurrogateScan()
    for chunk in chunks:
        scan.feed(chunk)
        yield chunk
    scan.feed(b"", final=True)


class _DepthCut:
    """The body's chunks, ending just before the first bracket that nests past ``max_depth``.

    ijson builds every element whole, with a prefix string per level (memory growing as the
    square of the depth: 100,000 levels take more than a machine has), and msgspec recurses
    into it. Cut there, the parser yields every element that ended before the cut and then
    meets the end of the body inside the element that goes too deep, which is thus named by
    its position."""

    def __init__(self, max_depth: int) -> None:
        self.scanner = JsonDepthScanner(max_depth)
        self.cut = False

    def __call__(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if not self.scanner.feed(chunk):
                self.cut = True
                yield chunk[: self.scanner.exceeded_at]
                return
            yield chunk


def _premature_end(exc: ijson.common.JSONError) -> bool:
    """Whether ijson stopped at the end of its input (yajl's words, and the Python backends')."""
    text = str(exc)
    return "premature EOF" in text or "Incomplete JSON" in text or "Incomplete or empty" in text


def json_array_items(chunks: Iterable[bytes], *, max_depth: int) -> Iterator[tuple[int, Any]]:
    """(1-based position in the array, decoded element) for a top-level JSON array, streamed.
    The body may nest ``max_depth`` levels, the array's own included (the request guard's
    limit on the whole body); the element that goes deeper is refused, ``json_too_deep``,
    before any parser holds it."""
    chunks = _without_bom(chunks)
    first = b""
    for first in chunks:
        if first.strip():
            break
    if not first.lstrip().startswith(b"["):
        raise RecordParseError(1, "An application/json body must be a JSON array of items.")
    depth_cut = _DepthCut(max_depth)
    reader = io.BufferedReader(
        _ChunkReader(_scanned(depth_cut(_prepend(first, chunks)))), buffer_size=1 << 20
    )
    position = 0
    try:
        for position, element in enumerate(ijson.items(reader, "item", use_float=True), start=1):
            yield position, element
    except ijson.common.JSONError as exc:
        if depth_cut.cut and _premature_end(exc):
            raise RecordParseError(
                position + 1,
                f"This item nests deeper than {max_depth} levels, counting the array around it.",
                code="json_too_deep",
            ) from None
        raise RecordParseError(position + 1, f"Malformed JSON after element {position}: {exc}") from exc
    except LoneSurrogate:
        # The reader runs ahead of the parser, so the element is known only roughly.
        raise RecordParseError(
            position + 1,
            f"An element after element {position} holds a lone UTF-16 surrogate escape (\\ud800 to "
            "\\udfff), which no text can hold.",
            code="surrogate_characters_not_allowed",
        ) from None


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
