"""How deeply a JSON text nests, found before any parser sees it.

A JSON parser recurses once per level of nesting. The C parsers (the standard library's
``json``, ijson's yajl backend) overflow the C stack, or allocate without bound, long before
they raise: a body of 100,000 ``[`` kills the process that parses it. So every JSON body is
scanned here first, as it streams in, and refused past ``JSON_MAX_DEPTH`` levels.

The scan keeps three numbers between chunks (the depth, whether it stands inside a string,
how many backslashes end the chunk) and works on whole chunks with numpy: it finds the
quotes and brackets, drops the escaped quotes (an odd run of backslashes before them), and
counts the brackets that stand outside strings. Its cost is a few passes over the bytes in
C, about a millisecond per megabyte, whatever the content.

It is not a validator: a text that is not JSON is the parser's to refuse, and the parser stops
at the first byte that is wrong, so the scan only has to be right up to there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JsonDepthScanner", "json_depth_exceeds"]

QUOTE, BACKSLASH = 0x22, 0x5C
OPENERS, CLOSERS = (0x5B, 0x7B), (0x5D, 0x7D)  # [ {   ] }


class JsonDepthScanner:
    """Feed the chunks of one JSON text (or of JSON Lines) in order; ``feed`` returns False once
    the nesting has gone past ``max_depth``."""

    __slots__ = ("max_depth", "depth", "in_string", "trailing_backslashes", "exceeded")

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.trailing_backslashes = 0
        self.exceeded = False

    def feed(self, chunk: bytes) -> bool:
        if self.exceeded or not chunk:
            return not self.exceeded
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = self._unescaped_quotes(data)
        is_open = (data == OPENERS[0]) | (data == OPENERS[1])
        is_close = (data == CLOSERS[0]) | (data == CLOSERS[1])
        brackets = np.flatnonzero(is_open | is_close)
        if brackets.size:
            # A bracket is outside every string when the quotes before it, counted from a start
            # outside a string, are even.
            quotes_before = np.searchsorted(quotes, brackets) + int(self.in_string)
            outside = brackets[(quotes_before & 1) == 0]
            if outside.size:
                steps = np.where(is_open[outside], 1, -1)
                path = np.cumsum(steps, dtype=np.int64) + self.depth
                if int(path.max()) > self.max_depth:
                    self.exceeded = True
                    return False
                # Closing more than was opened is not JSON; the parser refuses it there.
                self.depth = max(0, int(path[-1]))
        self.in_string ^= bool(quotes.size & 1)
        self.trailing_backslashes = self._trailing_backslashes(data)
        return True

    def _unescaped_quotes(self, data: np.ndarray) -> np.ndarray:
        quotes = np.flatnonzero(data == QUOTE)
        if not quotes.size:
            return quotes
        # Only a quote right after a backslash can be escaped (or the first byte, after a chunk
        # that ended in backslashes).
        previous = np.empty_like(quotes)
        previous[:] = quotes - 1
        after_backslash = np.zeros(quotes.size, dtype=bool)
        inside = previous >= 0
        after_backslash[inside] = data[previous[inside]] == BACKSLASH
        if quotes[0] == 0 and self.trailing_backslashes:
            after_backslash[0] = True
        if not after_backslash.any():
            return quotes
        runs = self._backslash_runs(data)
        candidates = quotes[after_backslash]
        counts = np.where(candidates > 0, runs[np.maximum(candidates - 1, 0)], 0)
        counts = counts + np.where(candidates - counts == 0, self.trailing_backslashes, 0)
        escaped = np.zeros(quotes.size, dtype=bool)
        escaped[np.flatnonzero(after_backslash)] = (counts & 1) == 1
        return quotes[~escaped]

    @staticmethod
    def _backslash_runs(data: np.ndarray) -> np.ndarray:
        """For each position, how many backslashes end there (0 where the byte is another)."""
        is_backslash = data == BACKSLASH
        index = np.arange(data.size)
        last_other = np.maximum.accumulate(np.where(is_backslash, -1, index))
        return np.where(is_backslash, index - last_other, 0)

    def _trailing_backslashes(self, data: np.ndarray) -> int:
        others = np.flatnonzero(data != BACKSLASH)
        if not others.size:
            return self.trailing_backslashes + data.size
        return int(data.size - 1 - others[-1])


def json_depth_exceeds(text: bytes | str, max_depth: int) -> bool:
    """Whether a whole JSON text nests deeper than ``max_depth``."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    return not JsonDepthScanner(max_depth).feed(text)
