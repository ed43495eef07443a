"""What the API answers, as typed values. Each keeps the whole answer in ``raw``, so a field
the server adds later is at hand before this client names it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from rlhf_client.errors import ErrorDetail

T = TypeVar("T")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Lab:
    id: str
    name: str
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lab:
        lab = data.get("lab", data)
        if not isinstance(lab, Mapping):
            lab = {"id": lab}
        return cls(id=str(lab.get("id", "")), name=str(lab.get("name", "")), raw=data)


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain: str
    status: str
    overlap: int
    export_form: str
    label_schema: Mapping[str, Any]
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Project:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            domain=str(data.get("domain", "")),
            status=str(data.get("status", "")),
            overlap=int(data.get("overlap") or 0),
            export_form=str(data.get("export_form", "")),
            label_schema=data.get("label_schema") or {},
            created_at=_time(data.get("created_at")),
            raw=data,
        )


FINISHED = ("ingested", "failed")


@dataclass(frozen=True)
class BatchState:
    """A batch as the server last answered it."""

    id: str
    project: str
    status: str
    idempotency_key: str
    bytes_total: int
    bytes_processed: int
    lines_total: int | None
    lines_processed: int
    items_created: int
    items_skipped: int
    error_count: int
    errors: tuple[ErrorDetail, ...]
    cancelled_at: datetime | None
    replayed: bool = False
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, replayed: bool = False) -> BatchState:
        return cls(
            id=str(data["id"]),
            project=str(data.get("project", "")),
            status=str(data.get("status", "")),
            idempotency_key=str(data.get("idempotency_key") or ""),
            bytes_total=int(data.get("bytes_total", data.get("size_bytes")) or 0),
            bytes_processed=int(data.get("bytes_processed") or 0),
            lines_total=data.get("lines_total"),
            lines_processed=int(data.get("lines_processed") or 0),
            items_created=int(data.get("items_created") or 0),
            items_skipped=int(data.get("items_skipped") or 0),
            error_count=int(data.get("error_count") or 0),
            errors=tuple(ErrorDetail.from_dict(e) for e in data.get("errors") or ()),
            cancelled_at=_time(data.get("cancelled_at")),
            replayed=replayed,
            raw=data,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def fraction_done(self) -> float:
        """0 to 1: the bytes the ingest has read of the body."""
        if self.status == "ingested":
            return 1.0
        return self.bytes_processed / self.bytes_total if self.bytes_total else 0.0


@dataclass(frozen=True)
class DryRunReport:
    valid: bool
    lines: int
    items: int
    skipped: int
    size_bytes: int
    error_count: int
    errors: tuple[ErrorDetail, ...]
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DryRunReport:
        return cls(
            valid=bool(data.get("valid")),
            lines=int(data.get("lines") or 0),
            items=int(data.get("items") or 0),
            skipped=int(data.get("skipped") or 0),
            size_bytes=int(data.get("size_bytes") or 0),
            error_count=int(data.get("error_count") or 0),
            errors=tuple(ErrorDetail.from_dict(e) for e in data.get("errors") or ()),
            raw=data,
        )


@dataclass(frozen=True)
class UploadProgress:
    """An upload by its Idempotency-Key: ``receiving`` while the body streams in, then the
    batch's status."""

    state: str
    batch: str
    bytes_received: int
    bytes_total: int | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadProgress:
        return cls(
            state=str(data["state"]),
            batch=str(data["batch"]),
            bytes_received=int(data.get("bytes_received") or 0),
            bytes_total=data.get("bytes_total"),
        )


@dataclass(frozen=True)
class CancelResult:
    batch: str
    cancelled_at: datetime | None
    items_cancelled: int
    items_kept: int
    newly_cancelled: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CancelResult:
        return cls(
            batch=str(data["batch"]),
            cancelled_at=_time(data.get("cancelled_at")),
            items_cancelled=int(data.get("items_cancelled") or 0),
            items_kept=int(data.get("items_kept") or 0),
            newly_cancelled=int(data.get("newly_cancelled") or 0),
        )


@dataclass(frozen=True)
class Item:
    id: str
    external_id: str
    batch: str
    state: str
    is_gold: bool
    prompt: Any
    responses: list[Mapping[str, Any]]
    metadata: Mapping[str, Any]
    labels: int
    consensus: Mapping[str, Any] | None
    created_at: datetime | None
    finalized_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        return cls(
            id=str(data["id"]),
            external_id=str(data.get("external_id", "")),
            batch=str(data.get("batch", "")),
            state=str(data.get("state", "")),
            is_gold=bool(data.get("is_gold")),
            prompt=data.get("prompt"),
            responses=list(data.get("responses") or []),
            metadata=data.get("metadata") or {},
            labels=int(data.get("labels") or 0),
            consensus=data.get("consensus"),
            created_at=_time(data.get("created_at")),
            finalized_at=_time(data.get("finalized_at")),
            raw=data,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    results: list[T]
    next_cursor: str | None
