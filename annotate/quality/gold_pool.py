"""The gold pool: exposure, retirement, silver gold, and what an expert may learn from gold.

Gold that does not leak:

- An item is gold when it has an answer (``Item.gold``): the lab's gold items (``is_gold``) and
  ordinary items promoted to *silver gold* (``gold_source='silver'``). The queue serves a gold
  item to at most ``Project.gold_exposure_cap`` annotators (annotate/queue/claim.py counts each
  exposure in the claim's own transaction); at the cap the item is retired
  (``gold_retired_at``) and never served as gold again.
- Nothing on the wire or the page says an item is gold. The expected answer, its explanation
  and the expert's own grade are shown only once the item is retired, in the expert's *gold
  review* (:func:`gold_review`), when the project shows gold answers (``Project.gold_feedback``).
  A retired item can no longer be served to anyone as gold, so what the review shows is no key
  to any gold still live. Before retirement an expert sees only their gold accuracy over graded
  golds answered before today, and only from ``GOLD_ACCURACY_MIN_GRADED`` of them
  (:func:`gold_accuracy`).
- Silver gold (:func:`silver_promote`): a pairwise ordinary item that becomes final with a very
  sure consensus (posterior of its choice at least ``QUALITY_SILVER_GOLD_CONFIDENCE``), every
  agreeing label from an annotator outside every group the fit suspects and at least one of them
  with a good gold record (:func:`annotate.quality.silver._vouching`), joins the pool with its
  consensus as the answer, while silver items stay at most ``QUALITY_SILVER_GOLD_MAX_SHARE`` of
  the pool. It is served as gold only to annotators who never had it; its own ordinary labels,
  consensus, exports and progress counts are unchanged (gold labels are never counted there).
  A silver item whose consensus is later revised is withdrawn (:func:`silver_withdraw`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label, Project
from annotate.quality.aggregation import DawidSkeneModel
from annotate.quality.consensus_update import LABEL_COLUMNS, ItemInputs, counted_labels, label_vote
from annotate.quality.gold import gold_feedback
from annotate.quality.silver import _vouching
from rlhf_platform.audit.services import audit_record
from rlhf_platform.experts.models import ExpertProfile

# An expert's gold accuracy is shown from this many graded golds on: fewer would tell them,
# gold by gold, which of their recent answers were gold and whether they passed.
GOLD_ACCURACY_MIN_GRADED = 10

IN_POOL = Q(gold__isnull=False)
LIVE = IN_POOL & Q(gold_retired_at__isnull=True)


# --- pool health ---------------------------------------------------------------------------------


def gold_pool_health(*, project: Project) -> dict[str, Any]:
    """Live, retired and silver items of the project's gold pool, and the exposures served."""
    row = Item.objects.filter(IN_POOL, project=project).aggregate(
        total=Count("pk"),
        live=Count("pk", filter=Q(gold_retired_at__isnull=True)),
        retired=Count("pk", filter=Q(gold_retired_at__isnull=False)),
        silver=Count("pk", filter=Q(gold_source="silver")),
        silver_live=Count("pk", filter=Q(gold_source="silver", gold_retired_at__isnull=True)),
        exposures=Sum("gold_exposures"),
        live_exposures=Sum("gold_exposures", filter=Q(gold_retired_at__isnull=True)),
    )
    total = row["total"] or 0
    return {
        "exposure_cap": project.gold_exposure_cap,
        "total": total,
        "lab": total - (row["silver"] or 0),
        "silver": row["silver"] or 0,
        "live": row["live"] or 0,
        "silver_live": row["silver_live"] or 0,
        "retired": row["retired"] or 0,
        "exposures": row["exposures"] or 0,
        # Exposures the live pool can still serve before it is all retired.
        "exposures_left": max(
            project.gold_exposure_cap * (row["live"] or 0) - (row["live_exposures"] or 0), 0
        ),
    }


# --- what an expert may see ----------------------------------------------------------------------


def gold_review(*, expert: ExpertProfile, project: Project | None = None, limit: int = 200) -> list[dict]:
    """The retired gold items the expert answered, newest retirement first, with the expected
    answer in the letters they saw, its explanation and their grade. Projects that do not show
    gold answers (``gold_feedback`` off) are left out."""
    labels = (
        Label.objects.filter(
            expert=expert,
            is_gold=True,
            item__gold_retired_at__isnull=False,
            project__gold_feedback=True,
        )
        .select_related("item", "assignment", "project")
        .order_by("-item__gold_retired_at", "-created_at")
    )
    if project is not None:
        labels = labels.filter(project=project)
    review = []
    for label in labels[:limit]:
        item = label.item
        if (item.gold or {}).get("withdrawn"):
            continue  # a silver answer its item's revised consensus contradicts: not taught
        shown_order = label.assignment.shown_order
        feedback = gold_feedback(item=item, shown_order=shown_order, passed=label.gold_passed)
        review.append(
            {
                "item": str(item.uid),
                "project": {"id": str(label.project_id), "name": label.project.name},
                "prompt": item.prompt,
                "answered_at": label.created_at,
                "retired_at": item.gold_retired_at,
                **feedback,
            }
        )
    return review


def gold_accuracy(*, expert: ExpertProfile, project: Project | None = None, now=None) -> dict[str, Any]:
    """The expert's gold accuracy over graded golds answered before today (UTC), in all projects
    or one: ``accuracy`` is None below ``GOLD_ACCURACY_MIN_GRADED`` of them. Never which items;
    and never up to the minute, or its change right after a submit would tell that the item
    just answered was gold, and whether it passed."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    labels = Label.objects.filter(
        expert=expert, is_gold=True, gold_passed__isnull=False, created_at__lt=today
    )
    if project is not None:
        labels = labels.filter(project=project)
    row = labels.aggregate(graded=Count("pk"), passed=Count("pk", filter=Q(gold_passed=True)))
    graded = row["graded"] or 0
    shown = graded >= GOLD_ACCURACY_MIN_GRADED
    return {
        "graded": graded if shown else None,
        "accuracy": round(row["passed"] / graded, 3) if shown else None,
        "none": graded == 0,  # no graded gold answered before today: "no gold yet"
        "min_graded": GOLD_ACCURACY_MIN_GRADED,
        "as_of": today,
    }


# --- silver gold ---------------------------------------------------------------------------------


def silver_pool_counts(project: Project) -> dict[str, int]:
    """The items of the project's gold pool (``total``) and the silver ones (``silver``)."""
    return Item.objects.filter(IN_POOL, project=project).aggregate(
        total=Count("pk"), silver=Count("pk", filter=Q(gold_source="silver"))
    )


def _silver_room(project: Project, pool: dict[str, int] | None = None) -> bool:
    """Whether one more silver item keeps silver within its share of the pool (ever promoted).
    ``pool``: :func:`silver_pool_counts`, kept up to date by the caller, read when not given."""
    share = settings.QUALITY_SILVER_GOLD_MAX_SHARE
    row = pool if pool is not None else silver_pool_counts(project)
    return row["silver"] + 1 <= share * (row["total"] + 1)


def silver_promote(
    *,
    item: Item,
    project: Project,
    consensus: ItemConsensus | None,
    model: DawidSkeneModel | None,
    inputs: ItemInputs | None = None,
    records: dict[str, tuple[int, int]] | None = None,
    pool: dict[str, Any] | None = None,
) -> bool:
    """Promote an item that just became final into the gold pool as silver gold when its
    consensus qualifies (see the module). Returns whether it was promoted. ``inputs``
    (:func:`~annotate.quality.consensus_update.items_inputs`), ``records`` (gold records) and
    ``pool`` (a dict the step keeps for the batch: the pool's counts are read once, on first
    need, and counted on) save the reads of a batch of items."""
    if item.is_gold or item.gold is not None or consensus is None or model is None:
        return False
    if consensus.ranking is not None or not consensus.choice:
        return False
    if consensus.confidence < settings.QUALITY_SILVER_GOLD_CONFIDENCE:
        return False
    rows = inputs.labels if inputs is not None else counted_labels(item.pk).values_list(*LABEL_COLUMNS)
    votes = [label_vote(row[3:], None) for row in rows]
    agreeing = [vote.worker for vote in votes if vote.choice == consensus.choice]
    if len(agreeing) < 2 or any(model.group_of(worker) is not None for worker in agreeing):
        return False
    if not _vouching(project=project, expert_ids=agreeing, model=model, records=records):
        return False
    if pool is not None and "total" not in pool:
        pool.update(silver_pool_counts(project))
    if not _silver_room(project, pool):
        return False
    answer = {
        "choice": consensus.choice,
        "explanation": f"The consensus of {len(votes)} annotators "
        f"(confidence {consensus.confidence:.3f}), promoted to silver gold.",
    }
    promoted = Item.objects.filter(pk=item.pk, gold__isnull=True, is_gold=False).update(
        gold=answer, gold_source="silver", gold_exposures=0, gold_retired_at=None
    )
    if not promoted:
        return False
    if pool is not None:
        pool["total"] += 1
        pool["silver"] += 1
    item.gold, item.gold_source, item.gold_exposures, item.gold_retired_at = answer, "silver", 0, None
    audit_record(
        action="quality.silver_gold_promoted",
        target=item,
        data={"project": str(project.pk), "choice": consensus.choice, "confidence": consensus.confidence},
    )
    return True


def silver_withdraw(*, item: Item, project: Project, reason: str) -> bool:
    """Retire a silver item whose consensus was revised, and mark its answer withdrawn: it is
    never served as gold again nor shown in any gold review (the gold labels already graded
    against it keep their grades)."""
    if item.gold_source != "silver" or (item.gold or {}).get("withdrawn"):
        return False
    now = timezone.now()
    gold = {**(item.gold or {}), "withdrawn": reason}
    Item.objects.filter(pk=item.pk).update(gold=gold, gold_retired_at=Coalesce("gold_retired_at", Value(now)))
    item.gold = gold
    item.gold_retired_at = item.gold_retired_at or now
    audit_record(
        action="quality.silver_gold_withdrawn",
        target=item,
        data={"project": str(project.pk), "reason": reason},
    )
    return True
