"""How deeply a JSON text nests, found before any parser sees it.

A JSON parser recurses once per level of nesting. The C parsers (the standard library's
``json``, ijson's yajl backend) overflow the C stack, or allocate without bound, long before
they raise: a body of 100,000 ``[`` kills the process that parses it. So every JSON body is
scanned here first, as it streams in, and refused past ``JSON_MAX_DEPTH`` levels.

The scan keeps three numbers between chunks (the depth, whether it stands inside a string,
how many backslashes end the chunk) and works on whole chunks with numpy: it finds the
quotes and brackets, drops the escaped quotes (an odd run of backslashes before them), and
counts the brackets that stand outside strings. Its cost is a few passes over the bytes in
C: about 1.3 ms per megabyte of comparison items (``python -m bench.json_depth``); a chunk
whose backslash runs are longer than a few bytes costs a few milliseconds more.

It is not a validator: a text that is not JSON is the parser's to refuse, and the parser stops
at the first byte that is wrong, so the scan only has to be right up to there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JsonDepthScanner", "json_depth_exceeds"]

QUOTE, BACKSLASH = 0x22, 0x5C
# +1 for an opening bracket ([ {), -1 for a closing one (] }), 0 for every other byte.
STEP = np.zeros(256, dtype=np.int8)
STEP[[0x5B, 0x7B]] = 1
STEP[[0x5D, 0x7D]] = -1
SHORT_RUNS = 8  # backslash runs measured quote by quote up to this length


class JsonDepthScanner:
    """Feed the chunks of one JSON text (or of JSON Lines) in order; ``feed`` returns False once
    the nesting has gone past ``max_depth``, and ``exceeded_at`` is then the offset, in the
    chunk that went past, of the bracket that did."""

    __slots__ = ("max_depth", "depth", "in_string", "trailing_backslashes", "exceeded", "exceeded_at")

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.trailing_backslashes = 0
        self.exceeded = False
        self.exceeded_at = -1

    def feed(self, chunk: bytes) -> bool:
        if self.exceeded or not chunk:
            return not self.exceeded
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = self._unescaped_quotes(data)
        brackets = np.flatnonzero((data == 0x5B) | (data == 0x7B) | (data == 0x5D) | (data == 0x7D))
        if brackets.size:
            # A bracket is outside every string when the quotes before it, counted from a start
            # outside a string, are even.
            quotes_before = np.searchsorted(quotes, brackets) + int(self.in_string)
            outside = brackets[(quotes_before & 1) == 0]
            if outside.size:
                path = np.cumsum(STEP[data[outside]], dtype=np.int64) + self.depth
                if int(path.max()) > self.max_depth:
                    self.exceeded = True
                    self.exceeded_at = int(outside[np.argmax(path > self.max_depth)])
                    return False
                # Closing more than was opened is not JSON; the parser refuses it there.
                self.depth = max(0, int(path[-1]))
        self.in_string ^= bool(quotes.size & 1)
        self.trailing_backslashes = self._trailing_backslashes(data)
        return True

    def _unescaped_quotes(self, data: np.ndarray) -> np.ndarray:
        """The quotes that no odd run of backslashes escapes. The runs before the quotes are
        measured a byte at a time over all quotes at once (a run is rarely longer than one);
        past ``SHORT_RUNS`` bytes, with the whole chunk's run lengths instead."""
        quotes = np.flatnonzero(data == QUOTE)
        if not quotes.size:
            return quotes
        counts = np.zeros(quotes.size, dtype=np.int64)
        active = np.arange(quotes.size)
        for back in range(1, SHORT_RUNS + 1):
            positions = quotes[active] - back
            inside = positions >= 0
            # A run reaching the chunk's start goes on with the backslashes that ended the last one.
            counts[active[~inside]] += self.trailing_backslashes
            active, positions = active[inside], positions[inside]
            active = active[data[positions] == BACKSLASH]
            if not active.size:
                return quotes[(counts & 1) == 0]
            counts[active] += 1
        runs = self._backslash_runs(data)
        counts = runs[quotes - 1].astype(np.int64)
        counts[quotes == 0] = 0
        counts += np.where(quotes - counts == 0, self.trailing_backslashes, 0)
        return quotes[(counts & 1) == 0]

    @staticmethod
    def _backslash_runs(data: np.ndarray) -> np.ndarray:
        """For each position, how many backslashes end there (0 where the byte is another)."""
        is_backslash = data == BACKSLASH
        index = np.arange(data.size)
        last_other = np.maximum.accumulate(np.where(is_backslash, -1, index))
        return np.where(is_backslash, index - last_other, 0)

    def _trailing_backslashes(self, data: np.ndarray) -> int:
        if data[-1] != BACKSLASH:
            return 0
        others = np.flatnonzero(data != BACKSLASH)
        if not others.size:
            return self.trailing_backslashes + data.size
        return int(data.size - 1 - others[-1])


def json_depth_exceeds(text: bytes | str, max_depth: int) -> bool:
    """Whether a whole JSON text nests deeper than ``max_depth``."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    return not JsonDepthScanner(max_depth).feed(text)
