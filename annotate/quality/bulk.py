"""Labels in bulk, as numpy arrays, for the project-wide steps (the model fit, the recompute).

On PostgreSQL a query is read with one binary ``COPY ... TO STDOUT`` of its rows packed as
fixed-width records (:func:`copy_arrays`): the whole result is one ``np.frombuffer`` with a
big-endian record type, with no Python object per row. On SQLite the same arrays are built from
``values_list`` (the development database; its projects are small).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connection

from annotate.models import Label

#: Column types this reader takes: name -> (PostgreSQL send function, numpy type of its bytes).
FIELD_TYPES = {"int8": ("int8send", ">i8"), "float8": ("float8send", ">f8"), "uuid": ("uuid_send", "V16")}
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def copy_arrays(
    *, columns: Sequence[tuple[str, str, str]], source: str, order_by: str, params: Sequence[Any]
) -> dict[str, np.ndarray]:
    """Read ``SELECT <columns> FROM <source> ORDER BY <order_by>`` as one array per column.
    ``columns``: (name, SQL expression, one of :data:`FIELD_TYPES`), never NULL. PostgreSQL only.

    The rows are packed by the server into one ``bytea`` of fixed-width big-endian records (each
    value's binary send form) and read with one binary ``COPY ... TO STDOUT``: a COPY of the rows
    themselves would be a message per row, and reading a million messages costs seconds in
    Python; the record bytes are one ``np.frombuffer``."""
    record = " || ".join(f"{FIELD_TYPES[kind][0]}({expression})" for _, expression, kind in columns)
    sql = f"SELECT string_agg({record}, ''::bytea ORDER BY {order_by}) FROM {source}"  # noqa: S608 - callers pass constant SQL
    parts = []
    # psycopg's own cursor: Django's debug wrapper (DEBUG, or a test's query capture) takes no
    # parameters in copy().
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy,
    ):
        for chunk in copy:
            parts.append(bytes(chunk))
    data = b"".join(parts)
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    at = 19 + int.from_bytes(data[15:19], "big")  # past the header and its extension
    length = int.from_bytes(data[at + 2 : at + 6], "big", signed=True)  # one row of one field
    body = b"" if length < 0 else memoryview(data)[at + 6 : at + 6 + length]
    dtype = np.dtype([(name, FIELD_TYPES[kind][1]) for name, _, kind in columns])
    rows = np.frombuffer(body, dtype=dtype)
    return {
        name: rows[name].copy() if kind == "uuid" else rows[name].astype(FIELD_TYPES[kind][1][1:])
        for name, _, kind in columns
    }


def first_appearance_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, keys)``: each value numbered in order of its first appearance (as a dict's
    ``setdefault(value, len(dict))`` numbers them), and the distinct values in that order."""
    if not len(values):
        return np.zeros(0, dtype=np.int64), values[:0]
    distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], distinct[order]


def uuid_keys(values: np.ndarray) -> list[str]:
    """Text keys of 16-byte UUID values (as the models' workers are keyed)."""
    return [str(uuid.UUID(bytes=bytes(v))) for v in values]


def class_code_sql(column: str) -> str:
    """SQL: a choice's index in the ``%s`` array of classes, -2 for no choice, -1 for another."""
    return (
        f"(CASE WHEN {column} = '' THEN -2 "
        f"ELSE COALESCE(array_position(%s::text[], {column}) - 1, -1) END)::int8"
    )


def class_codes(choices: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """The same codes as :func:`class_code_sql`, in Python (the SQLite path)."""
    class_of = {c: k for k, c in enumerate(classes)}
    return np.asarray([-2 if not c else class_of.get(c, -1) for c in choices], dtype=np.int64)


def counted_votes(*, project_id: Any, classes: Sequence[str]) -> dict[str, Any]:
    """The project's counted ordinary labels (not gold, not excluded) in
    :data:`~annotate.quality.consensus_update.VOTE_ORDER`: ``item`` (item id), ``worker`` (index
    into ``workers``, the expert ids as text), ``code`` (:func:`class_code_sql`) and ``strength``
    (-1 for none)."""
    if connection.vendor == "postgresql":
        got = copy_arrays(
            columns=[
                ("item", "item_id::int8", "int8"),
                ("expert", "expert_id", "uuid"),
                ("code", class_code_sql("choice"), "int8"),
                ("strength", "COALESCE(strength, -1)::int8", "int8"),
            ],
            source="annotate_label WHERE project_id = %s AND NOT is_gold AND NOT excluded_from_consensus",
            order_by="item_id, created_at, id",
            params=[list(classes), project_id],
        )
        worker, distinct = first_appearance_codes(got["expert"])
        return {
            "item": got["item"],
            "worker": worker,
            "workers": uuid_keys(distinct),
            "code": got["code"],
            "strength": got["strength"],
        }
    rows = list(
        Label.objects.filter(project_id=project_id, is_gold=False, excluded_from_consensus=False)
        .order_by("item_id", "created_at", "id")
        .values_list("item_id", "expert_id", "choice", "strength")
    )
    worker_of: dict[str, int] = {}
    return {
        "item": np.asarray([r[0] for r in rows], dtype=np.int64),
        "worker": np.asarray([worker_of.setdefault(str(r[1]), len(worker_of)) for r in rows], dtype=np.int64),
        "workers": list(worker_of),
        "code": class_codes([r[2] for r in rows], classes),
        "strength": np.asarray([-1 if r[3] is None else r[3] for r in rows], dtype=np.int64),
    }


def fit_votes(*, project_id: Any, classes: Sequence[str]) -> dict[str, Any]:
    """The counted labels with a choice among ``classes`` (gold ones included), ordered by id,
    for the model fit: ``item`` and ``expert`` (ids), ``code``, ``is_gold``."""
    if connection.vendor == "postgresql":
        got = copy_arrays(
            columns=[
                ("item", "item_id::int8", "int8"),
                ("expert", "expert_id", "uuid"),
                ("code", class_code_sql("choice"), "int8"),
                ("is_gold", "is_gold::int::int8", "int8"),
            ],
            source="annotate_label WHERE project_id = %s AND NOT excluded_from_consensus AND choice <> ''",
            order_by="id",
            params=[list(classes), project_id],
        )
        keep = got["code"] >= 0
        return {
            "item": got["item"][keep],
            "expert": got["expert"][keep],
            "code": got["code"][keep],
            "is_gold": got["is_gold"][keep].astype(bool),
            "expert_key": lambda values: [uuid.UUID(bytes=bytes(v)) for v in values],
        }
    rows = list(
        Label.objects.filter(project_id=project_id, excluded_from_consensus=False)
        .exclude(choice="")
        .order_by("pk")
        .values_list("item_id", "expert_id", "choice", "is_gold")
    )
    code = class_codes([r[2] for r in rows], classes)
    keep = code >= 0
    experts = np.empty(len(rows), dtype=object)
    experts[:] = [r[1] for r in rows]
    return {
        "item": np.asarray([r[0] for r in rows], dtype=np.int64)[keep],
        "expert": experts[keep].astype(str) if len(rows) else np.zeros(0, dtype=str),
        "code": code[keep],
        "is_gold": np.asarray([r[3] for r in rows], dtype=bool)[keep],
        "expert_key": lambda values: [uuid.UUID(str(v)) for v in values],
    }
