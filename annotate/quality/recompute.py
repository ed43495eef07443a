"""The bulk steps of :func:`~annotate.quality.services.project_quality_recompute` for a pairwise
project: every item's consensus from arrays, and every annotator's counters from SQL aggregates.

The labels are read once (:func:`~annotate.quality.bulk.counted_votes`: a binary COPY on
PostgreSQL), every item's consensus is computed at once by
:func:`~annotate.quality.aggregation.choice_consensus_arrays` -- the function the per-item step
calls for its one item, so the two give the same bits -- and written back with one COPY into a
temporary table and one upsert (``bulk_create`` on SQLite). Ranking projects (a Davidson fit per
item) keep the item-by-item path in the service.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label, Project
from annotate.quality.aggregation import PAIRWISE_CLASSES, DawidSkeneModel, choice_consensus_arrays
from annotate.quality.bulk import counted_votes

CONSENSUS_COLUMNS = (
    "item_id",
    "method",
    "choice",
    "strength",
    "ranking",
    "confidence",
    "agreement",
    "label_count",
    "posterior",
    "computed_at",
)
_BATCH = 20_000


class ConsensusTable:
    """Every item's consensus after a bulk recompute, by item id: what the decision and agreement
    read (:class:`~annotate.quality.services.ConsensusView` on demand), without one object per
    item."""

    def __init__(self, *, item_ids: list[int], rows: dict[int, Any], make: Any) -> None:
        self._ids = item_ids  # sorted, the computed ones
        self._rows = rows  # the kept ones (adjudicated) and the item-by-item ones, as views
        self._make = make  # position -> view

    def __len__(self) -> int:
        return len(self._ids) + len(self._rows)

    def get(self, item_id: int, default: Any = None) -> Any:
        if item_id in self._rows:
            return self._rows[item_id]
        at = bisect_left(self._ids, item_id)
        if at < len(self._ids) and self._ids[at] == item_id:
            return self._make(at)
        return default


def consensus_bulk(
    *, project: Project, model: DawidSkeneModel | None, kept: dict[int, Any], single: Any
) -> ConsensusTable:
    """Every ordinary item's consensus in a pairwise project, written in bulk. ``kept``: the views
    of adjudicated items (left as they are); ``single(item_id)``: the item-by-item path, for an
    item whose counted labels carry no choice. Returns the consensus by item id."""
    from annotate.quality.services import ConsensusView

    classes = model.classes if model is not None else PAIRWISE_CLASSES
    votes = counted_votes(project_id=project.pk, classes=classes)
    code = votes["code"]
    if (code == -1).any():
        bad = Label.objects.filter(project=project, is_gold=False).exclude(choice__in=["", *classes])
        raise ValueError(f"choice {bad.values_list('choice', flat=True).first()!r} is not one of {classes}")
    adjudicated = np.fromiter(kept, dtype=np.int64, count=len(kept))
    use = (code >= 0) & ~np.isin(votes["item"], adjudicated)
    # Items whose counted labels have no choice at all take the item-by-item path.
    labelled = np.unique(votes["item"])
    item_ids, item_idx = np.unique(votes["item"][use], return_inverse=True)
    rows = dict(kept)
    for item_id in np.setdiff1d(np.setdiff1d(labelled, item_ids), adjudicated).tolist():
        view = single(item_id)
        if view is not None:
            rows[item_id] = view
    found = choice_consensus_arrays(
        item_idx.reshape(-1),
        votes["worker"][use],
        votes["workers"],
        code[use],
        votes["strength"][use],
        len(item_ids),
        model=model,
    )
    del votes, code, use
    clipped = np.clip(found.confidence, 0.0, 1.0)
    _consensus_write(item_ids=item_ids, found=found, confidence=clipped)
    ids, choice, confidence = (
        item_ids.tolist(),
        [found.classes[k] for k in found.choice.tolist()],
        clipped.tolist(),
    )

    def make(at: int) -> ConsensusView:
        return ConsensusView(choice=choice[at], ranking=None, confidence=confidence[at])

    return ConsensusTable(item_ids=ids, rows=rows, make=make)


def _consensus_write(*, item_ids: np.ndarray, found: Any, confidence: np.ndarray) -> None:
    now = timezone.now()
    if connection.vendor == "postgresql":
        _consensus_write_postgresql(item_ids=item_ids, found=found, confidence=confidence, now=now)
        return
    classes = found.classes
    strength = [None if s != s else s for s in found.strength.tolist()]  # NaN: none
    choice, agreement, posterior = found.choice.tolist(), found.agreement.tolist(), found.posterior.tolist()
    counts, conf = found.label_count.tolist(), confidence.tolist()
    consensus_upsert(
        (
            item_id,
            found.method,
            classes[choice[n]],
            strength[n],
            None,
            conf[n],
            agreement[n],
            counts[n],
            dict(zip(classes, posterior[n], strict=True)),
            now,
        )
        for n, item_id in enumerate(item_ids.tolist())
    )


def _consensus_write_postgresql(
    *, item_ids: np.ndarray, found: Any, confidence: np.ndarray, now: Any
) -> None:
    """The rows as binary COPY records (every value a big-endian int8 or float8: the floats go
    in bit for bit) into a temporary table, then one upsert that names the choice and builds the
    posterior's JSON (float8 to JSON at the shortest decimal that reads back as the same
    double)."""
    kk = len(found.classes)
    values = [
        ("item_id", ">i8", item_ids),
        ("choice", ">i8", found.choice),
        ("strength", ">f8", found.strength),  # NaN: none
        ("confidence", ">f8", confidence),
        ("agreement", ">f8", found.agreement),
        ("label_count", ">i8", found.label_count),
        *((f"p{k}", ">f8", found.posterior[:, k]) for k in range(kk)),
    ]
    record = np.dtype(
        [("count", ">i2")] + [x for name, kind, _ in values for x in ((f"{name}_len", ">i4"), (name, kind))]
    )
    rows = np.zeros(len(item_ids), dtype=record)
    rows["count"] = len(values)
    for name, _, column in values:
        rows[f"{name}_len"] = 8
        rows[name] = column
    load = ", ".join(f"{name} {'int8' if kind == '>i8' else 'float8'}" for name, kind, _ in values)
    posterior = ", ".join(f"%s::text, p{k}" for k in range(kk))
    columns = ", ".join(CONSENSUS_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CONSENSUS_COLUMNS[1:])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL extra_float_digits = 1")  # float8 text: shortest exact
        cursor.execute(f"DROP TABLE IF EXISTS quality_consensus_arrays{kk}")
        cursor.execute(f"CREATE TEMPORARY TABLE quality_consensus_arrays{kk} ({load}) ON COMMIT DROP")
        with cursor.copy(f"COPY quality_consensus_arrays{kk} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
            for start in range(0, len(rows), _BATCH * 5):
                copy.write(rows[start : start + _BATCH * 5].tobytes())
            copy.write(b"\xff\xff")
        cursor.execute(
            f"INSERT INTO annotate_itemconsensus ({columns}) "  # noqa: S608 - constants and bound values
            f"SELECT item_id, %s, (%s::text[])[choice + 1], NULLIF(strength, 'NaN'::float8), NULL, "
            f"confidence, agreement, label_count, jsonb_build_object({posterior}), %s "
            f"FROM quality_consensus_arrays{kk} ON CONFLICT (item_id) DO UPDATE SET {updates}",
            [found.method, list(found.classes), *found.classes, now],
        )


def consensus_upsert(rows: Any) -> None:
    """Write consensus rows (tuples in :data:`CONSENSUS_COLUMNS` order, JSON values as Python
    objects), inserting or replacing each item's row; its record of revisions is kept. PostgreSQL:
    one COPY into a temporary table and one upsert."""
    if connection.vendor != "postgresql":
        batch = [ItemConsensus(**dict(zip(CONSENSUS_COLUMNS, row, strict=True))) for row in rows]
        for start in range(0, len(batch), _BATCH):
            ItemConsensus.objects.bulk_create(
                batch[start : start + _BATCH],
                update_conflicts=True,
                unique_fields=["item"],
                update_fields=list(CONSENSUS_COLUMNS[1:]),
            )
        return
    _consensus_copy_upsert("".join("\t".join(_copy_text(value) for value in row) + "\n" for row in rows))


def _consensus_copy_upsert(text: str) -> None:
    """Rows in COPY's text format into a temporary table, then one upsert."""
    columns = ", ".join(CONSENSUS_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CONSENSUS_COLUMNS[1:])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS quality_consensus_load "
            "(LIKE annotate_itemconsensus INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY quality_consensus_load ({columns}) FROM STDIN") as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO annotate_itemconsensus ({columns}) SELECT {columns} "  # noqa: S608 - constants
            f"FROM quality_consensus_load ON CONFLICT (item_id) DO UPDATE SET {updates}"
        )


def _copy_text(value: Any) -> str:
    """One value in COPY's text format (floats by ``repr``: they come back bit for bit)."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        text = str(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:  # a datetime
        text = value.isoformat()
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def label_counters(*, project: Project) -> dict[Any, dict[str, Any]]:
    """Per annotator, the counters of :func:`~annotate.quality.reputation.label_delta` over the
    labels the after-submit step has taken (``quality_at`` set), as SQL aggregates."""
    ab = Q(choice__in=["A", "B"]) & Q(assignment__shown_order__0__isnull=False)
    first = Q(choice="A", assignment__shown_order__0=0) | Q(choice="B", assignment__shown_order__0=1)
    rows = (
        Label.objects.filter(project=project, quality_at__isnull=False)
        .values("expert_id")
        .annotate(
            n_labels=Count("id"),
            n_gold_passed=Count("id", filter=Q(gold_passed=True)),
            n_gold_failed=Count("id", filter=Q(gold_passed=False)),
            n_last_gold_passed_at=Max("created_at", filter=Q(gold_passed=True)),
            n_active_seconds_sum=Sum("active_seconds"),
            n_active_seconds_count=Count("active_seconds"),
            n_pairwise_labels=Count("id", filter=ab),
            n_first_shown_choices=Count("id", filter=ab & first),
        )
        .order_by()
    )
    # (the aggregates are named apart from the model's fields, which the filters read)
    return {row.pop("expert_id"): {name[2:]: value for name, value in row.items()} for row in rows}


def agreement_counts(*, project: Project) -> dict[Any, tuple[int, int]]:
    """Per annotator, (agreeing, all) counted labels on final items with a consensus: a pairwise
    label agrees when it has a choice and it is the consensus choice."""
    rows = (
        Label.objects.filter(
            project=project,
            is_gold=False,
            excluded_from_consensus=False,
            item__state=Item.State.FINAL,
            item__consensus__isnull=False,
        )
        .values("expert_id")
        .annotate(
            total=Count("id"),
            hits=Count("id", filter=Q(choice=F("item__consensus__choice")) & ~Q(choice="")),
        )
        .order_by()
    )
    return {row["expert_id"]: (row["hits"], row["total"]) for row in rows}
