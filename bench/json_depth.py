"""The cost of the JSON nesting scan that the request guard runs on every body.

    .venv/bin/python -m bench.json_depth [--items 20000]

Builds a JSON Lines batch of comparison items (prompts with quoted text, escaped quotes and
brackets inside strings) and feeds it to the scanner in 1 MiB chunks, as the guard sees a
streamed body. Prints ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import json
import time

from rlhf_platform.core.json_depth import JsonDepthScanner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    item = {
        "prompt": 'Explain "quoted" things [with] {brackets} and a path C:\\temp\\x ' * 5,
        "responses": [{"id": f"r{i}", "text": "an answer " * 40} for i in range(2)],
        "metadata": {"tags": [1, 2, {"nested": "value"}]},
    }
    body = "\n".join(json.dumps({**item, "external_id": f"i{n}"}) for n in range(args.items)).encode()
    chunk = 1 << 20
    best = float("inf")
    for _ in range(args.rounds):
        scanner = JsonDepthScanner(64)
        started = time.perf_counter()
        for start in range(0, len(body), chunk):
            assert scanner.feed(body[start : start + chunk])
        best = min(best, time.perf_counter() - started)
    megabytes = len(body) / 1e6
    print(f"json_depth_body_mb={megabytes:.1f}")
    print(f"json_depth_scan_ms_per_mb={best * 1000 / megabytes:.2f}")
    print(f"json_depth_scan_mb_per_s={megabytes / best:.0f}")


if __name__ == "__main__":
    main()
