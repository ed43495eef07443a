"""Receiving and ingesting batches of items."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotate.ingest.records import JSON_TYPES, NDJSON_TYPES, RecordParseError, json_array_items, ndjson_lines
from annotate.ingest.validate import ItemValidator, LineError
from annotate.ingest.writer import MAX_REPORTED, StageFile, write_items
from annotate.models import Batch, BatchChunk, Project
from rlhf_platform.accounts.models import ApiKey
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.webhooks.services import webhook_emit

logger = logging.getLogger(__name__)

CHUNK_BYTES = 4 << 20  # one BatchChunk row
PROGRESS_EVERY = 5000  # lines between progress writes


@dataclass(frozen=True)
class Received:
    batch: Batch
    replayed: bool  # True when an Idempotency-Key matched an earlier batch


def _content_kind(content_type: str) -> str:
    main = (content_type or "").split(";", 1)[0].strip().lower()
    if main in NDJSON_TYPES:
        return "ndjson"
    if main in JSON_TYPES:
        return "json"
    raise ApplicationError(
        "Send application/json (an array of items) or application/x-ndjson (one item per line).",
        code="unsupported_media_type",
        status_code=415,
    )


def _read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def batch_receive(
    *,
    project: Project,
    stream: BinaryIO,
    content_type: str,
    idempotency_key: str = "",
    on_duplicate: str = Batch.OnDuplicate.ERROR,
    priority: int = 0,
    api_key: ApiKey | None = None,
) -> Received:
    """Store an upload as a queued batch (its body in chunks, in the database, so any worker
    can ingest it). A repeated ``Idempotency-Key`` with the same body returns the first batch;
    with another body it is refused."""
    kind = _content_kind(content_type)
    if on_duplicate not in Batch.OnDuplicate.values:
        raise ApplicationError(
            "on_duplicate is 'error' or 'skip'.", code="invalid_choice", field="on_duplicate"
        )
    if len(idempotency_key) > 200:
        raise ApplicationError(
            "The Idempotency-Key is at most 200 characters.", code="too_long", field="Idempotency-Key"
        )
    if project.status == Project.Status.ARCHIVED:
        raise ApplicationError("The project is archived.", code="project_archived", status_code=409)

    digest = hashlib.sha256()
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                project=project,
                idempotency_key=idempotency_key,
                request_sha256="",
                content_type=kind,
                on_duplicate=on_duplicate,
                priority=priority,
                created_by_key=api_key,
            )
            size = _store_chunks(batch, stream, digest)
            if size == 0:
                raise ApplicationError("The body is empty: send at least one item.", code="empty")
            batch.request_sha256 = digest.hexdigest()
            batch.size_bytes = size
            batch.save(update_fields=["request_sha256", "size_bytes"])
            audit_record(
                action="batch.receive",
                target=batch,
                api_key=api_key,
                data={"project": str(project.pk), "bytes": size, "sha256": batch.request_sha256},
            )
    except IntegrityError:
        if not idempotency_key:
            raise
        # The key was used before (or by a concurrent request that committed first).
        for chunk in _read_chunks(stream):
            digest.update(chunk)
        first = Batch.objects.get(project=project, idempotency_key=idempotency_key)
        if first.request_sha256 != digest.hexdigest():
            raise ApplicationError(
                "This Idempotency-Key was used for a different body; use a new key for new data.",
                code="idempotency_key_reused",
                field="Idempotency-Key",
                status_code=422,
                extra={"batch": str(first.pk)},
            ) from None
        return Received(batch=first, replayed=True)
    return Received(batch=batch, replayed=False)


def _store_chunks(batch: Batch, stream: BinaryIO, digest) -> int:
    """Write the body into BatchChunk rows; returns its size."""
    size = 0
    if connection.vendor == "postgresql":
        # Binary COPY: Django's client-side parameter binding would send each 4 MB chunk as a
        # hex literal twice its size (measured 3.3 s for 40 MB; COPY takes a fraction of that).
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {BatchChunk._meta.db_table} (batch_id, seq, data) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int4", "bytea"])
                for seq, chunk in enumerate(_read_chunks(stream)):
                    digest.update(chunk)
                    size += len(chunk)
                    copy.write_row((batch.pk, seq, chunk))
        return size
    for seq, chunk in enumerate(_read_chunks(stream)):
        digest.update(chunk)
        size += len(chunk)
        BatchChunk.objects.create(batch=batch, seq=seq, data=chunk)
    return size


class _ChunksGone(Exception):
    """The batch's body was removed while this run read it (another run finished first)."""


def _stored_chunks(batch: Batch) -> Iterator[bytes]:
    """The body of a batch, one chunk at a time: it is never in memory whole."""
    seqs = list(BatchChunk.objects.filter(batch=batch).order_by("seq").values_list("seq", flat=True))
    for seq in seqs:
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            # A server-bound cursor with a binary result: the bytes as they are, not hex text
            # (Django's own cursors bind on the client and cannot return binary).
            with psycopg.Cursor(connection.connection) as raw:
                raw.execute(
                    # The table name comes from the model; the values are parameters.
                    f"SELECT data FROM {BatchChunk._meta.db_table} WHERE batch_id = %s AND seq = %s",  # noqa: S608
                    (batch.pk, seq),
                    binary=True,
                )
                row = raw.fetchone()
                if row is None:
                    raise _ChunksGone
                yield bytes(row[0])
        else:
            data = BatchChunk.objects.filter(batch=batch, seq=seq).values_list("data", flat=True).first()
            if data is None:
                raise _ChunksGone
            yield bytes(data)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, error: LineError) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED:
            self.items.append(error.as_dict())


def batch_ingest(*, batch_id: Any) -> Batch:
    """Validate every record of a queued batch, then write all of it or none of it.

    Safe to run again (a redelivered task): a batch that is already ingested or failed is left
    as it is, and the write happens in one transaction that re-checks the batch's state under
    a row lock, so two runs cannot both write.
    """
    claimed = Batch.objects.filter(
        pk=batch_id, status__in=[Batch.Status.QUEUED, Batch.Status.INGESTING]
    ).update(status=Batch.Status.INGESTING, started_at=timezone.now())
    batch = Batch.objects.select_related("project").get(pk=batch_id)
    if not claimed:
        return batch
    project = batch.project
    validator = ItemValidator(schema=project.label_schema)
    errors = _Errors()
    seen: dict[str, int] = {}  # external_id -> line, for this batch
    skipped_in_batch = 0
    stage = StageFile(project_id=project.pk, batch_id=batch.pk, priority=batch.priority)
    lines = 0
    try:
        chunks = _stored_chunks(batch)
        if batch.content_type == "ndjson":
            records = ((line, validator.check_bytes(line, raw)) for line, raw in ndjson_lines(chunks))
        else:
            records = (
                (line, validator.check_object(line, value)) for line, value in json_array_items(chunks)
            )
        try:
            for line, (record, line_errors) in records:
                lines += 1
                if line_errors:
                    for error in line_errors:
                        errors.add(error)
                elif record.external_id in seen:
                    if batch.on_duplicate == Batch.OnDuplicate.SKIP:
                        skipped_in_batch += 1
                    else:
                        errors.add(
                            LineError(
                                line,
                                "external_id",
                                "duplicate",
                                f"external_id {record.external_id!r} appears earlier in this batch.",
                            )
                        )
                else:
                    seen[record.external_id] = line
                    if not errors.count:  # once anything failed, nothing will be written
                        stage.add(record)
                if lines % PROGRESS_EVERY == 0:
                    Batch.objects.filter(pk=batch.pk).update(lines_processed=lines)
        except RecordParseError as exc:
            errors.add(LineError(exc.line, None, "parse_error", exc.message))
        if lines == 0 and not errors.count:
            errors.add(LineError(1, None, "empty", "The batch holds no items."))

        if errors.count:
            return _batch_fail(batch, errors, lines)
        return _batch_write(batch, stage, seen, lines, skipped_in_batch)
    except _ChunksGone:
        # Another run of this batch finished (and removed the body) while this one read it.
        return Batch.objects.get(pk=batch.pk)
    except Exception:
        # Never leave a batch "ingesting" for ever: record the failure (nothing was written,
        # the write is one transaction) and let the error reach the logs and the task.
        logger.exception("ingest of batch %s failed", batch.pk)
        failure = _Errors()
        failure.add(
            LineError(0, None, "internal_error", "The batch could not be ingested; nothing was written.")
        )
        _batch_fail(batch, failure, lines)
        raise
    finally:
        stage.close()


def _batch_fail(batch: Batch, errors: _Errors, lines: int) -> Batch:
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != Batch.Status.INGESTING:
            return locked
        locked.status = Batch.Status.FAILED
        locked.errors = errors.items
        locked.error_count = errors.count
        locked.lines_total = lines
        locked.lines_processed = lines
        locked.finished_at = timezone.now()
        locked.save()
        BatchChunk.objects.filter(batch=locked).delete()
    return locked


def _batch_write(
    batch: Batch, stage: StageFile, seen: dict[str, int], lines: int, skipped_in_batch: int
) -> Batch:
    with transaction.atomic():
        locked = Batch.objects.select_for_update().select_related("project").get(pk=batch.pk)
        if locked.status != Batch.Status.INGESTING:
            return locked  # another run of this batch finished first
        project = locked.project
        skip = locked.on_duplicate == Batch.OnDuplicate.SKIP
        result = write_items(
            stage=stage,
            lines_by_id=seen,
            project_id=project.pk,
            batch_id=locked.pk,
            overlap=project.overlap,
            skip_existing=skip,
        )
        if result.conflict_count and not skip:
            errors = _Errors()
            for line, external_id in result.conflicts:
                errors.add(
                    LineError(
                        line,
                        "external_id",
                        "duplicate",
                        f"external_id {external_id!r} already exists in this project.",
                    )
                )
            errors.count = result.conflict_count
            return _batch_fail(locked, errors, lines)
        locked.status = Batch.Status.INGESTED
        locked.items_created = result.created
        locked.items_skipped = result.conflict_count + skipped_in_batch
        locked.lines_total = lines
        locked.lines_processed = lines
        locked.finished_at = timezone.now()
        locked.save()
        BatchChunk.objects.filter(batch=locked).delete()
        webhook_emit(
            lab_id=project.lab_id,
            event="batch.ingested",
            data={
                "batch": str(locked.pk),
                "project": str(project.pk),
                "items_created": locked.items_created,
                "items_skipped": locked.items_skipped,
            },
        )
        return locked


def batch_inline_limit() -> int:
    """Bodies up to this size are ingested inside the request; larger ones by a worker."""
    return settings.BATCH_INLINE_MAX_BYTES
