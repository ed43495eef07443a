"""A project's labels as JSON Lines, produced row by row so that no export is ever held in
memory whole (querysets are read with ``.iterator(chunk_size=2000)``, lines are yielded in
blocks of about 64 KB).

Three formats, one JSON object per line:

``raw``
    One line per label, none left out (``excluded_from_consensus`` says which labels the
    consensus ignores). Responses are named by their canonical ids (the ``id`` the lab gave
    each response): ``choice`` ``A``/``B`` means canonical responses 0/1, ``ranking`` is
    groups of tied ids best first, ``shown_order`` the ids in the order the expert saw them.
    The annotator is the expert's stable pseudonym, never an e-mail or a user id;
    ``annotator_level`` is their expertise level (0 to 4) in the project's domain at the time
    of the export.

``consensus``
    One line per item (ordinary items; gold ones too with ``include_gold``): the number of
    labels stored and the consensus, its confidence, agreement and method. Until the quality
    step has computed a consensus these fields are ``null``, never guessed.

``dpo``
    TRL's preference format (``prompt``, ``chosen``, ``rejected``; plus ``confidence``,
    ``external_id`` and the ids of the two responses), one line per preference pair, only
    for items whose consensus confidence is at least ``min_confidence`` (default
    :data:`DPO_DEFAULT_MIN_CONFIDENCE`). A pairwise consensus ``A`` gives chosen = response
    0 and rejected = response 1 (``B`` the reverse); ``tie`` and ``both_bad`` give no pair. A
    ranking consensus gives every (better, worse) pair across its groups; responses tied in a
    group give no pair between them. A prompt stored as a string stays a string (TRL's
    standard form, chosen and rejected are the response texts); a chat prompt
    (``[{role, content}, ...]``) gives TRL's conversational form: ``prompt`` is the message
    list and chosen/rejected are ``[{"role": "assistant", "content": text}]``.

Filters (all optional): ``batch`` (one batch of the project), ``since`` (raw: labels created
at or after it; consensus and dpo: items finalized or whose consensus was computed at or
after it) and ``min_confidence`` (consensus and dpo; for consensus, giving it leaves out the
items that have no consensus yet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotate.models import Batch, Item, ItemConsensus, Label, Project
from rlhf_platform.experts.models import ExpertProfile
from rlhf_platform.experts.selectors import expertise_level

EXPORT_FORMATS = ("raw", "consensus", "dpo")
# Pairs below this posterior are more likely noise than preference; a lab that wants every
# pair passes min_confidence=0.
DPO_DEFAULT_MIN_CONFIDENCE = 0.7
CHUNK_SIZE = 2000  # rows per database round trip
BLOCK_BYTES = 64 * 1024  # bytes per piece of the HTTP response
PAIRWISE_PAIRS = {"A": (0, 1), "B": (1, 0)}  # consensus choice -> (chosen, rejected) index


@dataclass(frozen=True)
class ExportFilters:
    batch: Batch | None = None
    since: dt.datetime | None = None
    min_confidence: float | None = None
    include_gold: bool = False


def export_filename(*, project: Project, export_format: str, now: dt.datetime) -> str:
    """``<project-name>-<format>-<UTC time>.jsonl``, safe in a Content-Disposition header."""
    slug = re.sub(r"[^a-z0-9]+", "-", project.name.lower()).strip("-")[:60] or "project"
    return f"{slug}-{export_format}-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.jsonl"


def export_lines(*, project: Project, export_format: str, filters: ExportFilters) -> Iterator[bytes]:
    """The export as blocks of whole JSON lines. Nothing is queried until it is iterated."""
    producers = {"raw": raw_rows, "consensus": consensus_rows, "dpo": dpo_rows}
    rows = producers[export_format](project=project, filters=filters)
    return _blocks(orjson.dumps(row) + b"\n" for row in rows)


# --- raw --------------------------------------------------------------------------------------


def raw_labels(*, project: Project, filters: ExportFilters) -> QuerySet[Label]:
    labels = Label.objects.filter(project=project)
    if filters.batch is not None:
        labels = labels.filter(item__batch=filters.batch)
    if filters.since is not None:
        labels = labels.filter(created_at__gte=filters.since)
    # ``only`` keeps the expert's row to its pseudonym: nothing else about a person is read.
    return (
        labels.select_related("item", "expert", "assignment")
        .only(
            "id",
            "is_gold",
            "choice",
            "strength",
            "ranking",
            "criteria",
            "rationale",
            "active_seconds",
            "lease_seconds",
            "schema_version",
            "excluded_from_consensus",
            "created_at",
            "item__uid",
            "item__external_id",
            "item__batch_id",
            "item__responses",
            "expert__pseudonym",
            "assignment__shown_order",
        )
        .order_by("created_at", "id")
    )


def raw_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    levels = (project.label_schema.get("strength") or {}).get("levels") or []
    expert_levels: dict[Any, int] = {}  # one look-up per expert per export

    def level_of(expert: ExpertProfile) -> int:
        if expert.pk not in expert_levels:
            expert_levels[expert.pk] = expertise_level(expert=expert, domain=project.domain)
        return expert_levels[expert.pk]

    for label in raw_labels(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        item = label.item
        ids = [response["id"] for response in item.responses]
        strength = label.strength
        yield {
            "label_id": label.pk,
            "external_id": item.external_id,
            "item_uid": item.uid,
            "batch": item.batch_id,
            "is_gold": label.is_gold,
            "annotator": label.expert.pseudonym,
            "annotator_level": level_of(label.expert),
            "choice": label.choice or None,
            "ranking": label.ranking,
            "strength": strength,
            "strength_level": levels[strength - 1] if strength and strength <= len(levels) else None,
            "criteria": label.criteria,
            "rationale": label.rationale,
            "active_seconds": label.active_seconds,
            "lease_seconds": label.lease_seconds,
            "shown_order": [ids[index] for index in label.assignment.shown_order],
            "excluded_from_consensus": label.excluded_from_consensus,
            "schema_version": label.schema_version,
            "created_at": label.created_at,
        }


# --- consensus --------------------------------------------------------------------------------


def _items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    if not filters.include_gold:
        items = items.filter(is_gold=False)
    if filters.batch is not None:
        items = items.filter(batch=filters.batch)
    if filters.since is not None:
        since = filters.since
        items = items.filter(Q(finalized_at__gte=since) | Q(consensus__computed_at__gte=since))
    if filters.min_confidence is not None:
        items = items.filter(consensus__confidence__gte=filters.min_confidence)
    return items.select_related("consensus").order_by("id")


_CONSENSUS_FIELDS = (
    "consensus__method",
    "consensus__choice",
    "consensus__strength",
    "consensus__ranking",
    "consensus__confidence",
    "consensus__agreement",
    "consensus__label_count",
    "consensus__computed_at",
)


def consensus_items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    # A correlated count rather than a GROUP BY over items and their JSON columns.
    label_count = (
        Label.objects.filter(item=OuterRef("pk"))
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        _items(project=project, filters=filters)
        .annotate(labels_stored=Coalesce(Subquery(label_count, output_field=IntegerField()), Value(0)))
        .only("id", "uid", "external_id", "batch_id", "is_gold", "state", "finalized_at", *_CONSENSUS_FIELDS)
    )


def item_consensus(item: Item) -> ItemConsensus | None:
    try:
        return item.consensus
    except ItemConsensus.DoesNotExist:
        return None


def consensus_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    for item in consensus_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item_consensus(item)
        row: dict[str, Any] = {
            "external_id": item.external_id,
            "uid": item.uid,
            "batch": item.batch_id,
            "is_gold": item.is_gold,
            "state": item.state,
            "label_count": item.labels_stored,
            "finalized_at": item.finalized_at,
            "consensus": None,
            "confidence": None,
            "agreement": None,
            "method": None,
            "consensus_label_count": None,
            "computed_at": None,
        }
        if consensus is not None:
            row.update(
                consensus={
                    "choice": consensus.choice or None,
                    "strength": consensus.strength,
                    "ranking": consensus.ranking,
                },
                confidence=consensus.confidence,
                agreement=consensus.agreement,
                method=consensus.method,
                consensus_label_count=consensus.label_count,
                computed_at=consensus.computed_at,
            )
        yield row


# --- dpo --------------------------------------------------------------------------------------


def preference_pairs(*, responses: list[dict[str, Any]], consensus: ItemConsensus) -> list[tuple[int, int]]:
    """(chosen, rejected) response indexes that a consensus implies, best pairs first."""
    if consensus.ranking:
        index = {response["id"]: i for i, response in enumerate(responses)}
        groups = [[index[rid] for rid in group] for group in consensus.ranking]
        return [
            (better, worse)
            for g, group in enumerate(groups)
            for better in group
            for lower in groups[g + 1 :]
            for worse in lower
        ]
    pair = PAIRWISE_PAIRS.get(consensus.choice)
    return [pair] if pair else []


def dpo_items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    if filters.min_confidence is None:
        filters = dataclasses.replace(filters, min_confidence=DPO_DEFAULT_MIN_CONFIDENCE)
    return (
        _items(project=project, filters=filters)
        .filter(consensus__isnull=False)
        .only("id", "uid", "external_id", "batch_id", "prompt", "responses", *_CONSENSUS_FIELDS)
    )


def dpo_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    for item in dpo_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item.consensus
        chat = isinstance(item.prompt, list)
        for chosen, rejected in preference_pairs(responses=item.responses, consensus=consensus):
            chosen_text, rejected_text = item.responses[chosen]["text"], item.responses[rejected]["text"]
            yield {
                "prompt": item.prompt,
                "chosen": [{"role": "assistant", "content": chosen_text}] if chat else chosen_text,
                "rejected": [{"role": "assistant", "content": rejected_text}] if chat else rejected_text,
                "confidence": consensus.confidence,
                "external_id": item.external_id,
                "uid": item.uid,
                "batch": item.batch_id,
                "chosen_id": item.responses[chosen]["id"],
                "rejected_id": item.responses[rejected]["id"],
                "agreement": consensus.agreement,
                "method": consensus.method,
            }


# --- output -----------------------------------------------------------------------------------


def _blocks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines joined into blocks of about ``BLOCK_BYTES``: fewer, larger writes."""
    block: list[bytes] = []
    size = 0
    for line in lines:
        block.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield b"".join(block)
            block, size = [], 0
    if block:
        yield b"".join(block)
