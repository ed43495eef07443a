"""The training formats: ``dpo`` (TRL's DPOTrainer), ``reward`` (TRL's RewardTrainer) and
``ranking`` (one row per item with its full ranking).

One form per file, never mixed: ``standard`` (strings) or ``conversational`` (lists of
``{role, content}`` messages). In the standard form a chat prompt is rendered to a string by
:func:`prompt_text`; in the conversational form a string prompt becomes one user message. Rows
carry only TRL's columns unless ``include=metadata``. Only final items are exported unless
``include_unfinished`` (gold items, which are never final, come with ``include_gold`` when they
have a consensus).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Q, QuerySet

from annotate.exports.common import CHUNK_SIZE, CONSENSUS_FIELDS, ExportFilters, filtered_items
from annotate.models import Item, ItemConsensus, Project

TRAINING_FORMATS = ("dpo", "reward", "ranking")
FORMS = ("standard", "conversational")
# Between the rendered prompt and the response in the reward format's standard form.
REWARD_SEPARATOR = "\n\n"
PAIRWISE_ORDER = {"A": (0, 1), "B": (1, 0)}  # consensus choice -> (chosen, rejected) index

# Metadata columns (include=metadata), after TRL's.
PAIR_METADATA = (
    "external_id",
    "uid",
    "batch",
    "chosen_id",
    "rejected_id",
    "confidence",
    "agreement",
    "method",
)
RANKING_METADATA = ("external_id", "uid", "batch", "completion_ids", "confidence", "agreement", "method")

Message = dict[str, str]


# --- prompts and completions ------------------------------------------------------------------


def prompt_text(prompt: str | list[dict[str, Any]]) -> str:
    """The prompt as one string (the standard form). A string stays as it is; a chat that is a
    single user message is that message's content; any other chat is each message as
    ``"<role>: <content>"``, separated by a blank line, in order."""
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return "\n\n".join(f"{message['role']}: {message['content']}" for message in prompt)


def prompt_messages(prompt: str | list[dict[str, Any]]) -> list[Message]:
    """The prompt as messages (the conversational form): a string is one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": message["role"], "content": message["content"]} for message in prompt]


def completion(text: str, form: str) -> str | list[Message]:
    return text if form == "standard" else [{"role": "assistant", "content": text}]


# --- pairs and rankings -----------------------------------------------------------------------


def ranking_groups(*, responses: list[dict[str, Any]], consensus: ItemConsensus) -> list[list[int]]:
    """The consensus as groups of tied response indexes, best first; ``[]`` when it orders
    nothing (a pairwise ``both_bad``, or no choice). A pairwise ``A`` is ``[[0], [1]]``, ``B``
    ``[[1], [0]]``, ``tie`` ``[[0, 1]]``."""
    if consensus.ranking:
        index = {response["id"]: i for i, response in enumerate(responses)}
        return [[index[rid] for rid in group] for group in consensus.ranking]
    if consensus.choice in PAIRWISE_ORDER:
        return [[i] for i in PAIRWISE_ORDER[consensus.choice]]
    if consensus.choice == "tie":
        return [[0, 1]]
    return []


def preference_pairs(
    *, responses: list[dict[str, Any]], consensus: ItemConsensus, strength_levels: int = 0
) -> list[tuple[int, int, float]]:
    """(chosen, rejected, margin) for every pair the consensus orders, best pairs first:
    pairwise ``A``/``B`` one pair, ``tie``/``both_bad`` none; a ranking every (better, worse)
    pair across its groups (responses tied in a group give no pair).

    The margin (TRL's ``margin`` column, in [0, 1]) says how much better: pairwise, the
    consensus strength over the number of strength levels (``much better`` of 3 levels is 1,
    ``slightly better`` 1/3; 0 without a strength); ranking, the distance between the two
    groups over the largest distance (first against last is 1)."""
    if not consensus.ranking:
        pair = PAIRWISE_ORDER.get(consensus.choice)
        if pair is None:
            return []
        strength = consensus.strength
        margin = float(strength) / strength_levels if strength and strength_levels else 0.0
        return [(pair[0], pair[1], min(margin, 1.0))]
    groups = ranking_groups(responses=responses, consensus=consensus)
    span = max(len(groups) - 1, 1)
    return [
        (better, worse, (h - g) / span)
        for g, group in enumerate(groups)
        for better in group
        for h in range(g + 1, len(groups))
        for worse in groups[h]
    ]


# --- rows -------------------------------------------------------------------------------------


def training_items(*, project: Project, filters: ExportFilters) -> QuerySet[Item]:
    """Items with a consensus; final ones only unless ``include_unfinished`` (gold items, never
    final, only with ``include_gold``)."""
    items = filtered_items(project=project, filters=filters).filter(consensus__isnull=False)
    if not filters.include_unfinished:
        items = items.filter(Q(state=Item.State.FINAL) | Q(is_gold=True))
    return items.only("id", "uid", "external_id", "batch_id", "prompt", "responses", *CONSENSUS_FIELDS)


def _metadata(item: Item, consensus: ItemConsensus) -> dict[str, Any]:
    return {
        "external_id": item.external_id,
        "uid": str(item.uid),
        "batch": str(item.batch_id),
        "confidence": consensus.confidence,
        "agreement": consensus.agreement,
        "method": consensus.method,
    }


def _with_metadata(row: dict[str, Any], metadata: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    row.update((key, metadata[key]) for key in order)
    return row


def dpo_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """TRL's preference format with an explicit prompt: ``prompt``, ``chosen``, ``rejected``."""
    form = filters.form
    for item in training_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item.consensus
        responses = item.responses
        prompt = prompt_text(item.prompt) if form == "standard" else prompt_messages(item.prompt)
        for chosen, rejected, _margin in preference_pairs(responses=responses, consensus=consensus):
            row = {
                "prompt": prompt,
                "chosen": completion(responses[chosen]["text"], form),
                "rejected": completion(responses[rejected]["text"], form),
            }
            if filters.include_metadata:
                metadata = _metadata(item, consensus)
                metadata.update(chosen_id=responses[chosen]["id"], rejected_id=responses[rejected]["id"])
                _with_metadata(row, metadata, PAIR_METADATA)
            yield row


def reward_text(prompt: str | list[dict[str, Any]], text: str, form: str) -> str | list[Message]:
    """The prompt and one response together (the implicit-prompt form): standard, the rendered
    prompt, :data:`REWARD_SEPARATOR` and the response; conversational, the prompt's messages
    and the response as the assistant's."""
    if form == "standard":
        return f"{prompt_text(prompt)}{REWARD_SEPARATOR}{text}"
    return [*prompt_messages(prompt), {"role": "assistant", "content": text}]


def reward_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """TRL's preference format with an implicit prompt, as RewardTrainer takes it: ``chosen``
    and ``rejected`` each hold the prompt and the response (:func:`reward_text`), and
    ``margin`` (:func:`preference_pairs`)."""
    form = filters.form
    levels = len((project.label_schema.get("strength") or {}).get("levels") or [])
    for item in training_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item.consensus
        responses = item.responses
        pairs = preference_pairs(responses=responses, consensus=consensus, strength_levels=levels)
        for chosen, rejected, margin in pairs:
            row = {
                "chosen": reward_text(item.prompt, responses[chosen]["text"], form),
                "rejected": reward_text(item.prompt, responses[rejected]["text"], form),
                "margin": margin,
            }
            if filters.include_metadata:
                metadata = _metadata(item, consensus)
                metadata.update(chosen_id=responses[chosen]["id"], rejected_id=responses[rejected]["id"])
                _with_metadata(row, metadata, PAIR_METADATA)
            yield row


def ranking_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """One row per item: ``prompt``, ``completions`` best first, ``ranks`` (1 is best; tied
    completions share a rank). A pairwise item is a ranking of two (``tie``: both rank 1;
    ``both_bad`` orders nothing and is left out)."""
    form = filters.form
    for item in training_items(project=project, filters=filters).iterator(chunk_size=CHUNK_SIZE):
        consensus = item.consensus
        responses = item.responses
        groups = ranking_groups(responses=responses, consensus=consensus)
        if not groups:
            continue
        order = [(rank, index) for rank, group in enumerate(groups, start=1) for index in group]
        row = {
            "prompt": prompt_text(item.prompt) if form == "standard" else prompt_messages(item.prompt),
            "completions": [completion(responses[index]["text"], form) for _rank, index in order],
            "ranks": [rank for rank, _index in order],
        }
        if filters.include_metadata:
            metadata = _metadata(item, consensus)
            metadata["completion_ids"] = [responses[index]["id"] for _rank, index in order]
            _with_metadata(row, metadata, RANKING_METADATA)
        yield row
