"""Checking one record of a batch against the item format and the project's label schema.

msgspec decodes JSON straight into typed structs and checks types, required and unknown fields
and lengths in C, which is what lets ingestion run at tens of thousands of items a second; the
checks that need the project's schema follow in plain Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from annotate.ingest.limits import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_ITEM_BYTES,
    MAX_METADATA_BYTES,
    MAX_MODEL_CHARS,
    MAX_PROMPT_MESSAGES,
    MAX_RESPONSE_ID_CHARS,
    MAX_RESPONSES,
    MAX_ROLE_CHARS,
    MAX_TEXT_CHARS,
    MIN_RESPONSES,
)
from annotate.schema import response_count_range
from rlhf_platform.core.json_depth import JsonDepthScanner
from rlhf_platform.core.text import MESSAGES, bad_text_in

ROLES = {"system", "developer", "user", "assistant", "tool"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# PostgreSQL's jsonb cannot hold U+0000: COPY would fail on it, after validation, and take the
# whole batch down with a server error. In JSON it can only be the escape \u0000 (a raw NUL
# byte is malformed JSON), one preceded by an even run of backslashes (an odd run is a
# literal backslash followed by "u0000"). A substring test first keeps the common case fast.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_encode = msgspec.json.Encoder().encode


class Message(msgspec.Struct, forbid_unknown_fields=True):
    role: Annotated[str, Meta(min_length=1, max_length=MAX_ROLE_CHARS)]
    content: Annotated[str, Meta(max_length=MAX_TEXT_CHARS)]


class Response(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=MAX_RESPONSE_ID_CHARS)]
    text: Annotated[str, Meta(max_length=MAX_TEXT_CHARS)]
    model: Annotated[str, Meta(max_length=MAX_MODEL_CHARS)] = ""


class ItemRecord(msgspec.Struct, forbid_unknown_fields=True):
    external_id: Annotated[str, Meta(min_length=1, max_length=MAX_EXTERNAL_ID_CHARS)]
    prompt: (
        Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS)]
        | Annotated[list[Message], Meta(min_length=1, max_length=MAX_PROMPT_MESSAGES)]
    )
    responses: Annotated[list[Response], Meta(min_length=MIN_RESPONSES, max_length=MAX_RESPONSES)]
    metadata: dict[str, Any] = {}
    gold: dict[str, Any] | None = None


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code, "message": self.message}


_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<name>[^`]+)`")


def _msgspec_error(line: int, exc: msgspec.ValidationError) -> LineError:
    """'Expected `str`, got `int` - at `$.responses[0].text`' -> field responses.0.text."""
    text = str(exc)
    match = _PATH.search(text)
    path = match.group("path") if match else ""
    message = text[: match.start()] if match else text
    field = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    named = _NAMED.search(message)
    if message.startswith("Object missing required field"):
        code = "required"
    elif message.startswith("Object contains unknown field"):
        code = "unknown_field"
    elif "length >=" in message:
        code = "too_short"
    elif "length <=" in message:
        code = "too_long"
    else:
        code = "invalid_type"
    if named and code in ("required", "unknown_field"):
        field = f"{field}.{named.group('name')}" if field else named.group("name")
    return LineError(line, field or None, code, message.strip())


def _nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first text holding U+0000 (a key holding it names its object)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        if "\x00" in str(key):
            return path or None
        found = _nul_field(child, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _surrogate_error(line: int, raw: bytes) -> LineError:
    """A lone UTF-16 surrogate escape (msgspec refuses it while decoding): the standard
    library's parser accepts it, and then the field holding it can be named."""
    try:
        found = bad_text_in(json.loads(raw))
    except ValueError:
        found = None
    field = found.field if found is not None else None
    return LineError(
        line, field, "surrogate_characters_not_allowed", MESSAGES["surrogate_characters_not_allowed"]
    )


def _nests_deeper(raw: bytes, max_depth: int) -> bool:
    """Whether a JSON text nests deeper than ``max_depth``; a text with fewer opening brackets
    than that cannot (two ``bytes.count`` calls, the common case), others are scanned."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    return not JsonDepthScanner(max_depth).feed(raw)


def _too_deep(line: int, max_depth: int) -> LineError:
    return LineError(line, None, "json_too_deep", f"This item nests deeper than {max_depth} levels.")


def _too_large(line: int, size: int) -> LineError:
    return LineError(
        line, None, "too_large", f"This item is {size:,} bytes; an item is at most {MAX_ITEM_BYTES:,}."
    )


class ItemValidator:
    """Validates records for one project. ``check_bytes`` for JSON Lines, ``check_object`` for
    elements already decoded from a JSON array. Each returns (record, errors)."""

    def __init__(self, *, schema: dict[str, Any], max_depth: int | None = None) -> None:
        from django.conf import settings

        self.schema = schema
        # A line nesting deeper is refused before msgspec recurses into it. Served by uvicorn,
        # the request guard refuses such a body whole first; this names the line wherever the
        # body comes from.
        self.max_depth = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
        self.min_responses, self.max_responses = response_count_range(schema)
        self._decoder = msgspec.json.Decoder(ItemRecord)

    def check_bytes(self, line: int, raw: bytes) -> tuple[ItemRecord | None, list[LineError]]:
        if len(raw) > MAX_ITEM_BYTES:
            return None, [_too_large(line, len(raw))]
        if _nests_deeper(raw, self.max_depth):
            return None, [_too_deep(line, self.max_depth)]
        try:
            record = self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            return None, [_msgspec_error(line, exc)]
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # invalid UTF-8 is the latter
            if "surrogate" in str(exc):
                return None, [_surrogate_error(line, raw)]
            return None, [LineError(line, None, "parse_error", f"Not valid JSON: {exc}")]
        return record, self._check(line, record, raw)

    def check_object(self, line: int, value: Any) -> tuple[ItemRecord | None, list[LineError]]:
        try:
            record = msgspec.convert(value, ItemRecord)
            encoded = _encode(record)  # metadata and gold are taken as they are, and encoded here
        except msgspec.ValidationError as exc:
            return None, [_msgspec_error(line, exc)]
        except RecursionError:
            return None, [_too_deep(line, self.max_depth)]
        if len(encoded) > MAX_ITEM_BYTES:
            return None, [_too_large(line, len(encoded))]
        if _nests_deeper(encoded, self.max_depth):
            return None, [_too_deep(line, self.max_depth)]
        return record, self._check(line, record, encoded)

    def _check(self, line: int, record: ItemRecord, encoded: bytes) -> list[LineError]:
        errors: list[LineError] = []
        if b"\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
            field = _nul_field(msgspec.to_builtins(record))
            if field != "external_id":  # reported below with the other control characters
                errors.append(
                    LineError(line, field, "invalid", "Text cannot hold the NUL character (\\u0000).")
                )
        if record.metadata:
            size = len(_encode(record.metadata))
            if size > MAX_METADATA_BYTES:
                errors.append(
                    LineError(
                        line,
                        "metadata",
                        "too_long",
                        f"metadata is {size:,} bytes as JSON; at most {MAX_METADATA_BYTES:,}.",
                    )
                )
        if _CONTROL.search(record.external_id):
            errors.append(
                LineError(line, "external_id", "invalid", "external_id contains control characters.")
            )
        count = len(record.responses)
        if not self.min_responses <= count <= self.max_responses:
            expected = (
                "exactly 2 responses (a pairwise project)"
                if self.schema["kind"] == "pairwise"
                else "3 to 8 responses (a ranking project)"
            )
            errors.append(
                LineError(line, "responses", "wrong_count", f"Got {count} responses; expected {expected}.")
            )
        ids = [response.id for response in record.responses]
        if len(set(ids)) != len(ids):
            errors.append(
                LineError(line, "responses", "duplicate_id", "Response ids must be unique within an item.")
            )
        if isinstance(record.prompt, list):
            for index, message in enumerate(record.prompt):
                if message.role not in ROLES:
                    errors.append(
                        LineError(
                            line,
                            f"prompt.{index}.role",
                            "invalid_choice",
                            f"Unknown role {message.role!r}; use one of {sorted(ROLES)}.",
                        )
                    )
        if record.gold is not None and not errors:
            errors.extend(self._check_gold(line, record.gold, ids))
        return errors

    def _check_gold(self, line: int, gold: dict[str, Any], ids: list[str]) -> list[LineError]:
        def error(field: str, code: str, message: str) -> list[LineError]:
            return [LineError(line, f"gold.{field}" if field else "gold", code, message)]

        if self.schema["kind"] == "pairwise":
            allowed = {"choice", "strength_min", "strength_max", "explanation"}
            unknown = sorted(set(gold) - allowed)
            if unknown:
                return error(
                    unknown[0], "unknown_field", f"A pairwise gold answer has only {sorted(allowed)}."
                )
            if gold.get("choice") not in self.schema["choices"]:
                return error("choice", "invalid_choice", f"choice must be one of {self.schema['choices']}.")
            levels = len((self.schema.get("strength") or {}).get("levels", []))
            low, high = gold.get("strength_min"), gold.get("strength_max")
            for name, value in (("strength_min", low), ("strength_max", high)):
                if value is not None and (
                    not levels
                    or not isinstance(value, int)
                    or isinstance(value, bool)
                    or not 1 <= value <= levels
                ):
                    return error(
                        name, "invalid", f"{name} must be an integer from 1 to {levels} (the strength scale)."
                    )
            if low is not None and high is not None and low > high:
                return error("strength_max", "invalid", "strength_max is below strength_min.")
        else:
            allowed = {"ranking", "max_distance", "explanation"}
            unknown = sorted(set(gold) - allowed)
            if unknown:
                return error(
                    unknown[0], "unknown_field", f"A ranking gold answer has only {sorted(allowed)}."
                )
            ranking = gold.get("ranking")
            if not isinstance(ranking, list) or not all(
                isinstance(group, list) and group for group in ranking
            ):
                return error("ranking", "invalid", "ranking is a list of groups of response ids, best first.")
            flat = [rid for group in ranking for rid in group]
            if sorted(map(str, flat)) != sorted(ids):
                return error("ranking", "invalid", "ranking must place every response id exactly once.")
            if not self.schema.get("ranking", {}).get("ties_allowed", True) and any(
                len(g) > 1 for g in ranking
            ):
                return error("ranking", "invalid", "This project does not allow ties.")
            distance = gold.get("max_distance", 0)
            if not isinstance(distance, int) or isinstance(distance, bool) or distance < 0:
                return error(
                    "max_distance",
                    "invalid",
                    "max_distance is a whole number of discordant pairs, 0 or more.",
                )
        if "explanation" in gold and not isinstance(gold["explanation"], str):
            return error("explanation", "invalid", "explanation is text.")
        return []
