"""Compile the Vyper contracts into committed JSON artifacts (ABI + bytecode).

Run with the Python of the separate compiler environment (``make contracts`` makes it):

    .venv-vyper/bin/python rewards/contracts/build.py           # (re)write build/*.json
    .venv-vyper/bin/python rewards/contracts/build.py --check   # exit 1 if an artifact differs

vyper pins ``cbor2<6``, which conflicts with the platform's own environment, so the compiler
never lives in ``.venv``: the platform only reads the JSON this script writes. The output is
byte-identical for the same source and compiler version (sorted keys, fixed layout, no
timestamps), so ``git diff --exit-code`` after a rebuild proves the artifacts are reproducible.
This file uses the standard library and vyper only (no Django).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import vyper

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
CONTRACTS = ["RewardToken"]
COMPILER = "0.4.3"


def artifact(name: str) -> str:
    source = (HERE / f"{name}.vy").read_text()
    out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
    data = {
        "contract_name": name,
        "compiler": f"vyper {vyper.__version__}",
        "evm_version": "prague",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"],
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    if not vyper.__version__.startswith(COMPILER):
        print(f"vyper {COMPILER} expected, found {vyper.__version__}", file=sys.stderr)
        return 2
    differ = []
    BUILD.mkdir(exist_ok=True)
    for name in CONTRACTS:
        target = BUILD / f"{name}.json"
        text = artifact(name)
        if args.check:
            if not target.exists() or target.read_text() != text:
                differ.append(str(target))
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(HERE.parent.parent)}")
    if differ:
        print("artifacts differ from a fresh compile: " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
