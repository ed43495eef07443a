"""``rlhf``: upload a file, follow a batch, download an export.

    rlhf upload items.jsonl --project <id>           # waits for the ingest; prints the batch
    rlhf status <batch id>
    rlhf export --project <id> --format dpo -o train.jsonl

The base URL and the API key come from ``--base-url`` / ``--api-key`` or ``$RLHF_BASE_URL`` /
``$RLHF_API_KEY``. Exit status 0 on success, 1 on an error of the API (its errors, one a line,
on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rlhf_client._core import API_KEY_ENV, BASE_URL_ENV
from rlhf_client._export import FILE_FORMATS
from rlhf_client._ops import EXPORT_FORMATS
from rlhf_client._sync import Client
from rlhf_client.errors import ApiError, BatchFailed, RlhfError
from rlhf_client.models import BatchState


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _progress(state: BatchState) -> None:
    total = state.lines_total if state.lines_total is not None else "?"
    lines = f"{state.lines_processed}/{total} lines"
    print(f"{state.status}: {lines}, {state.bytes_processed}/{state.bytes_total} bytes", file=sys.stderr)


def _upload(client: Client, args: argparse.Namespace) -> int:
    if args.dry_run:
        report = client.dry_run(args.project, args.file, on_duplicate=args.on_duplicate)
        _print_json(dict(report.raw))
        return 0 if report.valid else 1
    batch = client.upload(args.project, args.file, on_duplicate=args.on_duplicate, priority=args.priority)
    if not args.no_wait and not batch.finished:
        batch = batch.wait(timeout=args.timeout, on_progress=_progress)
    _print_json(dict(batch.raw))
    return 0


def _status(client: Client, args: argparse.Namespace) -> int:
    _print_json(dict(client.batch(args.batch).raw))
    return 0


def _export(client: Client, args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {}
    if args.form:
        filters["form"] = args.form
    if args.include_metadata:
        filters["include"] = "metadata"
    if args.include_unfinished:
        filters["include_unfinished"] = True
    if args.batch:
        filters["batch"] = args.batch
    path = client.download_export(args.project, args.output, args.format, args.file_format, **filters)
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="rlhf", description="The RLHF platform's lab API from the shell.")
    main.add_argument("--base-url", help=f"the server (default ${BASE_URL_ENV}, else http://127.0.0.1:8000)")
    main.add_argument("--api-key", help=f"the lab's API key (default ${API_KEY_ENV})")
    commands = main.add_subparsers(dest="command", required=True)

    upload = commands.add_parser("upload", help="upload a JSON Lines (or .json array) file as one batch")
    upload.add_argument("file")
    upload.add_argument("--project", required=True, help="the project's id")
    upload.add_argument("--on-duplicate", choices=["error", "skip"], default="error")
    upload.add_argument("--priority", type=int, default=0)
    upload.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    upload.add_argument("--no-wait", action="store_true", help="return once the body is received")
    upload.add_argument("--timeout", type=float, default=None, help="seconds to wait for the ingest")
    upload.set_defaults(run=_upload)

    status = commands.add_parser("status", help="a batch's status and progress")
    status.add_argument("batch")
    status.set_defaults(run=_status)

    export = commands.add_parser("export", help="download a project's export")
    export.add_argument("--project", required=True)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="dpo")
    export.add_argument("--file-format", choices=FILE_FORMATS, default="jsonl")
    export.add_argument("--form", choices=["standard", "conversational"])
    export.add_argument("--include-metadata", action="store_true")
    export.add_argument("--include-unfinished", action="store_true")
    export.add_argument("--batch")
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(run=_export)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with Client(api_key=args.api_key, base_url=args.base_url) as client:
            return int(args.run(client, args))
    except ApiError as exc:
        print(f"error: HTTP {exc.status}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except BatchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except (RlhfError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
