"""Receiving and ingesting batches of items."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotate.ingest.progress import (  # noqa: F401 (re-exported: stalled.py, the API)
    _bytes_key,
    _heartbeat_key,
    _progress_key,
    _Receipt,
    _receipt_key,
    batch_bytes_processed,
    batch_lines_processed,
    batch_progressed_at,
    batch_receipt_progress,
)
from annotate.ingest.records import JSON_TYPES, NDJSON_TYPES, RecordParseError, json_array_items, ndjson_lines
from annotate.ingest.validate import ItemRecord, ItemValidator, LineError
from annotate.ingest.writer import COPY_ITEMS_SQL, MAX_REPORTED, StageFile, make_slots, write_items
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
    while chunk := stream.read(CHUNK_BYTES):
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
    bytes_expected: int | None = None,
    actor: Any = None,
) -> Received:
    """Store an upload as a queued batch (its body in chunks, in the database, so any worker
    can ingest it). A repeated ``Idempotency-Key`` with the same body returns the first batch;
    with another body it is refused.

    Every record is validated as the body streams in (annotate/ingest/limits.py): a body with
    an invalid line is stored as a failed batch with its line errors and no body, at once,
    rather than queued and failed later by a worker. What needs the project's items (an
    ``external_id`` the project already holds) is checked by the ingest.

    With an ``Idempotency-Key``, the bytes received so far and ``bytes_expected`` (the
    Content-Length) are in the cache while the body streams in (``batch_receipt_progress``):
    the batch row is not visible to others until the request commits."""
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
            reading = _Reading(batch, progress=False)
            receipt = _Receipt(project, idempotency_key, batch, bytes_expected)
            try:
                size = _store_chunks(batch, stream, digest, reading, on_chunk=receipt.update)
            finally:
                receipt.close()
            if size == 0:
                raise ApplicationError("The body is empty: send at least one item.", code="empty")
            batch.request_sha256 = digest.hexdigest()
            batch.size_bytes = size
            if reading.errors.count:
                _batch_refuse(batch, reading)
            else:
                batch.lines_total = reading.lines  # known from the receipt on: progress has a total
                batch.save(update_fields=["request_sha256", "size_bytes", "lines_total"])
            audit_record(
                action="batch.receive",
                target=batch,
                api_key=api_key,
                actor=actor,
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


def _store_chunks(batch: Batch, stream: BinaryIO, digest, reading: _Reading, on_chunk=None) -> int:
    """Write the body into BatchChunk rows while ``reading`` validates it, in one pass; once a
    line failed, the rest is read and validated but not stored. Returns the body's size;
    ``on_chunk`` hears the bytes received after each chunk."""
    size = 0

    def body(write) -> Iterator[bytes]:
        nonlocal size
        for seq, chunk in enumerate(_read_chunks(stream)):
            digest.update(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(size)
            if not reading.errors.count:
                write(seq, chunk)
            yield chunk

    def receive(write) -> None:
        chunks = body(write)
        for _record in reading.records(chunks):
            pass
        for _chunk in chunks:  # the rest of a body whose parsing stopped at an error
            pass

    if connection.vendor == "postgresql":
        # Binary COPY: Django's client-side parameter binding would send each 4 MB chunk as a
        # hex literal twice its size (measured 3.3 s for 40 MB; COPY takes a fraction of that).
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {BatchChunk._meta.db_table} (batch_id, seq, data) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int4", "bytea"])
                receive(lambda seq, chunk: copy.write_row((batch.pk, seq, chunk)))
        return size
    receive(lambda seq, chunk: BatchChunk.objects.create(batch=batch, seq=seq, data=chunk))
    return size


def _batch_refuse(batch: Batch, reading: _Reading) -> None:
    """Inside the receiving transaction: the body broke a limit or the item format; the batch
    is failed with its line errors and keeps no body."""
    now = timezone.now()
    batch.status = Batch.Status.FAILED
    batch.errors = reading.errors.items
    batch.error_count = reading.errors.count
    batch.lines_total = batch.lines_processed = reading.lines
    batch.started_at = batch.finished_at = now
    batch.save()
    BatchChunk.objects.filter(batch=batch).delete()


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
        else:
            data = BatchChunk.objects.filter(batch=batch, seq=seq).values_list("data", flat=True).first()
            row = None if data is None else (data,)
        if row is None:
            raise _ChunksGone
        yield bytes(row[0])


def _local_body(batch: Batch):
    """The body copied into a local temporary file, for the streaming write: its connection is
    busy with COPY and cannot also fetch chunks. Returns the open file, at its start."""
    body = tempfile.TemporaryFile(prefix="rlhf-body-")
    for chunk in _stored_chunks(batch):
        body.write(chunk)
    body.seek(0)
    return body


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, error: LineError) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED:
            self.items.append(error.as_dict())


class _Reading:
    """One pass over a batch's body: yields the valid records not seen before in the batch,
    and keeps the line errors, the ids seen (with their lines) and the progress."""

    def __init__(self, batch: Batch, *, progress: bool = True) -> None:
        self.batch = batch
        self.progress = progress  # progress and heartbeat in the cache, while ingesting
        self.validator = ItemValidator(schema=batch.project.label_schema)
        self.errors = _Errors()
        self.seen: dict[str, int] = {}  # external_id -> line
        self.skipped_in_batch = 0
        self.lines = 0
        self.bytes = 0  # of the body read so far

    def _counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.bytes += len(chunk)
            yield chunk

    def records(self, chunks: Iterator[bytes] | None = None) -> Iterator[ItemRecord]:
        batch, validator = self.batch, self.validator
        chunks = self._counted(_stored_chunks(batch) if chunks is None else chunks)
        if batch.content_type == "ndjson":
            checked = ((line, validator.check_bytes(line, raw)) for line, raw in ndjson_lines(chunks))
        else:
            checked = (
                (line, validator.check_object(line, value))
                for line, value in json_array_items(chunks, max_depth=validator.max_depth)
            )
        try:
            for line, (record, line_errors) in checked:
                self.lines += 1
                if self.progress and self.lines % PROGRESS_EVERY == 0:
                    cache.set_many(
                        {
                            _progress_key(batch.pk): self.lines,
                            _bytes_key(batch.pk): self.bytes,
                            _heartbeat_key(batch.pk): time.time(),
                        },
                        3600,
                    )
                if line_errors:
                    for error in line_errors:
                        self.errors.add(error)
                elif record.external_id in self.seen:
                    if batch.on_duplicate == Batch.OnDuplicate.SKIP:
                        self.skipped_in_batch += 1
                    else:
                        self.errors.add(
                            LineError(
                                line,
                                "external_id",
                                "duplicate",
                                f"external_id {record.external_id!r} appears earlier in this batch.",
                            )
                        )
                else:
                    self.seen[record.external_id] = line
                    if not self.errors.count:  # once anything failed, nothing will be written
                        yield record
        except RecordParseError as exc:
            self.errors.add(LineError(exc.line, None, exc.code, exc.message))
        if self.lines == 0 and not self.errors.count:
            self.errors.add(LineError(1, None, "empty", "The batch holds no items."))


class _Failed(Exception):
    def __init__(self, errors: _Errors) -> None:
        super().__init__("batch failed")
        self.errors = errors


def batch_ingest(*, batch_id: Any) -> Batch:
    """Validate every record of a queued batch and write all of it or none of it.

    On PostgreSQL with ``on_duplicate=error`` (the default) the valid rows stream into ``COPY``
    while the body is still being validated, so PostgreSQL's work overlaps Python's; the first
    invalid line aborts the COPY (the transaction rolls back) and validation goes on only to
    report every error. Elsewhere, and to skip duplicates, rows are staged first and written
    after (``writer.write_items``).

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
    reading = _Reading(batch)
    stage = StageFile(project_id=batch.project_id, batch_id=batch.pk, priority=batch.priority)
    streaming = connection.vendor == "postgresql" and batch.on_duplicate == Batch.OnDuplicate.ERROR
    try:
        if streaming:
            return _ingest_streaming(batch, reading, stage)
        for record in reading.records():
            stage.add(record)
        if reading.errors.count:
            return _batch_fail(batch, reading.errors, reading.lines)
        return _batch_write(batch, stage, reading.seen, reading.lines, reading.skipped_in_batch)
    except _Failed as failed:
        return _batch_fail(batch, failed.errors, reading.lines)
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
        _batch_fail(batch, failure, reading.lines)
        raise
    finally:
        stage.close()
        cache.delete_many([_progress_key(batch.pk), _bytes_key(batch.pk), _heartbeat_key(batch.pk)])


class _AbortCopy(Exception):
    pass


def _ingest_streaming(batch: Batch, reading: _Reading, stage: StageFile) -> Batch:
    with transaction.atomic():
        locked = Batch.objects.select_for_update().select_related("project").get(pk=batch.pk)
        if locked.status != Batch.Status.INGESTING:
            return locked  # another run of this batch finished first
        project = locked.project
        body = _local_body(locked)  # read out before COPY occupies the connection
        try:
            records = reading.records(_read_chunks(body))
            try:
                with transaction.atomic():  # a savepoint: an aborted COPY leaves nothing
                    with connection.cursor() as cursor:
                        with cursor.cursor.copy(COPY_ITEMS_SQL) as copy:
                            for record in records:
                                copy.write(stage.add(record))
                            if reading.errors.count:
                                raise _AbortCopy  # psycopg ends the COPY with an error
                    created = stage.rows
                    make_slots(project_id=project.pk, batch_id=locked.pk, overlap=project.overlap)
            except _AbortCopy:
                raise _Failed(reading.errors) from None
            except (IntegrityError, psycopg.IntegrityError):
                # (COPY runs on the raw psycopg cursor, so its errors come unwrapped.)
                # An external_id the project already holds (perhaps from an upload that committed
                # a moment ago): read the rest of the body, then name them all and write nothing.
                for record in records:
                    stage.add(record)
                if reading.errors.count:
                    raise _Failed(reading.errors) from None
                result = write_items(
                    stage=stage,
                    lines_by_id=reading.seen,
                    project_id=project.pk,
                    batch_id=locked.pk,
                    overlap=project.overlap,
                    skip_existing=False,
                )
                if result.conflict_count:
                    raise _Failed(_conflict_errors(result)) from None
                created = result.created  # the other upload rolled back: written now
        finally:
            body.close()
        return _batch_mark_ingested(locked, created=created, skipped=0, lines=reading.lines)


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


def _conflict_errors(result) -> _Errors:
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
    return errors


def _batch_mark_ingested(locked: Batch, *, created: int, skipped: int, lines: int) -> Batch:
    """Inside the writing transaction: the batch is done; tell the lab after commit."""
    locked.status = Batch.Status.INGESTED
    locked.items_created = created
    locked.items_skipped = skipped
    locked.lines_total = lines
    locked.lines_processed = lines
    locked.finished_at = timezone.now()
    locked.save()
    BatchChunk.objects.filter(batch=locked).delete()
    webhook_emit(
        lab_id=locked.project.lab_id,
        event="batch.ingested",
        data={
            "batch": str(locked.pk),
            "project": str(locked.project_id),
            "items_created": created,
            "items_skipped": skipped,
        },
    )
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
            raise _Failed(_conflict_errors(result))
        return _batch_mark_ingested(
            locked, created=result.created, skipped=result.conflict_count + skipped_in_batch, lines=lines
        )


def batch_inline_limit() -> int:
    """Bodies up to this size are ingested inside the request; larger ones by a worker."""
    return settings.BATCH_INLINE_MAX_BYTES
