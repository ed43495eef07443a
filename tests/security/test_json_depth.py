"""The nesting scan that runs before any JSON parser: exact against a byte-by-byte reference,
whatever the chunking, strings and escapes."""

from __future__ import annotations

import json
import random

import pytest

from rlhf_platform.core.json_depth import JsonDepthScanner, json_depth_exceeds


def reference_max_depth(text: bytes) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.random()
    if depth > 12 or kind < 0.3:
        alphabet = ['"', "\\", "[", "]", "{", "}", "a", " ", "é", "\n"]
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
    if kind < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {random_json(rng, 99): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def scan_in_chunks(text: bytes, max_depth: int, rng: random.Random) -> bool:
    scanner = JsonDepthScanner(max_depth)
    position = 0
    while position < len(text):
        size = rng.choice([1, 2, 3, 7, 64, len(text)])
        if not scanner.feed(text[position : position + size]):
            return False
        position += size
    return True


@pytest.mark.parametrize("seed", range(40))
def test_scan_matches_the_reference_at_every_chunking(seed):
    rng = random.Random(seed)
    for _ in range(25):
        text = json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5).encode()
        deepest = reference_max_depth(text)
        for limit in {max(0, deepest - 1), deepest}:
            assert scan_in_chunks(text, limit, rng) == (deepest <= limit), (text, limit)


def test_brackets_and_escaped_quotes_inside_strings_do_not_count():
    assert not json_depth_exceeds(json.dumps({"a": "[[[[[[" * 50, "b": '\\"[[[[[[['}), 3)
    # A closing bracket in a string cannot hide real nesting.
    hidden = '["' + "]" * 100 + '"' + "[" * 100 + "]" * 100 + "]"
    assert json_depth_exceeds(hidden, 64)
    # An escaped quote does not end a string; an escaped backslash before a quote does.
    assert not json_depth_exceeds(r'["\"[[[[[[[[[["]', 2)
    assert json_depth_exceeds("[" + r'"\\"' + ", [[[[]]]]]", 3)


def test_a_backslash_run_split_across_chunks():
    scanner = JsonDepthScanner(2)
    for chunk in (b'["ab\\', b"\\", b"\\", b'"[[[[', b']]]]"]'):
        assert scanner.feed(chunk)  # three backslashes: the quote is escaped, the string goes on
    scanner = JsonDepthScanner(2)
    results = [scanner.feed(chunk) for chunk in (b'["ab\\', b"\\", b'"[[[[', b"]]]]]")]
    assert results[-2] is False  # two backslashes: the quote closes the string


def test_a_hundred_thousand_levels_are_refused_at_once():
    assert json_depth_exceeds(b"[" * 100_000 + b"]" * 100_000, 64)
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64, 64)


def test_long_backslash_runs_before_quotes_are_counted_exactly():
    # Runs longer than the quote-by-quote pass measures go through the whole-chunk run lengths.
    for run in (7, 8, 9, 10, 17, 18):
        text = b'["' + b"\\" * run + b'"' + b"[[[[" + b"]]]]" + b'"]'
        escaped = run % 2 == 1  # an odd run escapes the quote: the brackets stay in the string
        assert json_depth_exceeds(text, 2) is (not escaped), run


@pytest.mark.parametrize("seed", range(10))
def test_the_scan_names_the_bracket_that_went_past(seed):
    rng = random.Random(seed)
    text = json.dumps({"a": "[[{" * 5, "b": [1, {"c": [[[[[[[[2]]]]]]]]}]}).encode()
    limit = reference_max_depth(text) - 1 - rng.randrange(3)
    scanner = JsonDepthScanner(limit)
    position = 0
    while scanner.feed(text[position : position + (size := rng.choice([1, 3, 7, 64]))]):
        position += size
    offset = position + scanner.exceeded_at
    assert reference_max_depth(text[:offset]) == limit
    assert reference_max_depth(text[: offset + 1]) == limit + 1
