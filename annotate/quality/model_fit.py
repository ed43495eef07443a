"""The periodic fit of a project's consensus model, stored for the per-item step to read.

:func:`project_model_fit` streams the project's counted pairwise labels (gold ones included)
into integer arrays and fits Dawid-Skene with what keeps a group from capturing consensus
(:mod:`annotate.quality.consensus_model`):

1. gold items clamp their truth (semi-supervised EM): their labels estimate each annotator's
   confusions directly;
2. each annotator's confusion rows have a Dirichlet prior centred on an accuracy from their
   expertise level in the project's domain;
3. the collusion signal (:func:`~annotate.quality.integrity.collusion_pairs`) is computed here;
   the flagged pairs' groups, joined with the persisted suspected and confirmed groups
   (:mod:`annotate.quality.groups`, whose detection runs here too, with this fit's confusions),
   count once per item, in the fit and in every item's posterior;
4. Dawid-Skene and the accuracy-weighted majority vote (the one-coin model, one accuracy per
   annotator) are scored on held-out gold (k-fold), and the better one decides the project's
   items; for the majority vote the stored confusions are the annotators' one-coin matrices.

The stored parameters (``ProjectQualityModel.parameters``, :meth:`DawidSkeneModel.to_json`) carry
the method, the held-out scores, the groups and each annotator's prior level in ``meta``; the
row's ``method`` column repeats the choice for staff. An annotator the fit has not seen counts
with :data:`~annotate.quality.aggregation.UNKNOWN_ACCURACY`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from annotate.models import Item, Project, ProjectQualityModel
from annotate.quality.aggregation import (
    UNKNOWN_ACCURACY,
    DawidSkeneModel,
    Vote,
    pairwise_classes,
)
from annotate.quality.bulk import first_appearance_codes, fit_votes
from annotate.quality.consensus_model import (
    collusion_groups,
    consensus_model_fit,
    one_coin_matrix,
    worker_group_index,
)
from annotate.quality.groups import groups_union, project_groups_detect, project_groups_in_force
from annotate.quality.integrity import collusion_pairs
from rlhf_platform.experts.selectors import expertise_levels_in_domain

CHUNK = 20_000


def _suspected_groups(
    coded: np.ndarray, workers: list, classes: tuple[str, ...]
) -> tuple[list[list[str]], int]:
    """The collusion groups over the most recent ``QUALITY_COLLUSION_MAX_LABELS`` labels (the
    pairwise test's cost grows with the pairs of annotators sharing items; a group at work now
    shows in its recent labels). Returns the groups (worker keys as text) and the flagged pairs."""
    recent = coded[-settings.QUALITY_COLLUSION_MAX_LABELS :]
    votes = [Vote(item=int(i), worker=str(workers[w]), choice=classes[c]) for i, w, c in recent.tolist()]
    pairs = collusion_pairs(votes, min_shared=settings.QUALITY_COLLUSION_MIN_SHARED)
    return collusion_groups((p.worker_a, p.worker_b) for p in pairs), len(pairs)


def project_model_fit(*, project_id: Any) -> ProjectQualityModel | None:
    """Fit the project's consensus model over its counted pairwise labels and store it (see the
    module's docstring). None for a ranking project or one without labels."""
    project = Project.objects.select_related("domain").get(pk=project_id)
    if project.label_schema.get("kind") != "pairwise":
        project_groups_detect(project=project)  # the account and timing signals only
        return None
    started = time.perf_counter()
    classes = pairwise_classes(project.label_schema)
    class_of = {c: k for k, c in enumerate(classes)}
    votes = fit_votes(project_id=project_id, classes=classes)
    if not len(votes["item"]):
        project_groups_detect(project=project)
        return None
    # Items and annotators numbered in order of first appearance (by label id).
    item_code, item_ids = first_appearance_codes(votes["item"])
    worker_code, worker_values = first_appearance_codes(votes["expert"])
    coded = np.stack([item_code, worker_code, votes["code"]], axis=1)
    workers = votes["expert_key"](worker_values)
    item_of = {item_id: n for n, item_id in enumerate(item_ids.tolist())}
    gold_item_ids = set(np.unique(votes["item"][votes["is_gold"]]).tolist())
    del votes, item_code, worker_code

    gold = np.full(len(item_of), -1, dtype=np.int64)
    # Lab gold and silver gold (whose gold labels anchor the fit like the lab's).
    truths = Item.objects.filter(pk__in=gold_item_ids, gold__isnull=False).values_list("pk", "gold")
    for item_id, answer in truths.iterator(chunk_size=CHUNK):
        k = class_of.get((answer or {}).get("choice"))
        if k is not None:
            gold[item_of[item_id]] = k

    levels = expertise_levels_in_domain(expert_ids=workers, domain=project.domain)
    worker_levels = [int(levels.get(w, 0)) for w in workers]
    pair_groups, flagged_pairs = _suspected_groups(coded, workers, classes)
    persisted = project_groups_in_force(project_id=project_id)
    groups = groups_union(pair_groups, persisted)

    def fit_with(groups: list[list[str]]):
        return consensus_model_fit(
            coded[:, 0],
            coded[:, 1],
            coded[:, 2],
            len(item_of),
            len(workers),
            len(classes),
            gold=gold,
            levels=worker_levels,
            worker_group=worker_group_index([str(w) for w in workers], groups),
            smoothing=settings.QUALITY_DS_SMOOTHING,
            prior_strength=settings.QUALITY_DS_PRIOR_STRENGTH,
            accuracy_prior_strength=settings.QUALITY_ACCURACY_PRIOR_STRENGTH,
            folds=settings.QUALITY_MODEL_CHOICE_FOLDS,
        )

    result = fit_with(groups)
    # The group graph, with this fit's confusions for the agreement signal; when it changes the
    # groups in force, the fit is run again so that the new groups count once from now on.
    detected = project_groups_detect(
        project=project,
        agreement={
            "coded": coded,
            "workers": workers,
            "confusion": np.asarray(result.fit.confusion),
            "priors": np.asarray(result.fit.priors),
            "gold": gold,
        },
    )
    if any(detected.values()):
        persisted = project_groups_in_force(project_id=project_id)
        regrouped = groups_union(pair_groups, persisted)
        if regrouped != groups:
            groups = regrouped
            result = fit_with(groups)
    fit, choice = result.fit, result.choice
    priors, confusion = fit.priors, list(fit.confusion)
    if result.one_coin is not None:
        # the majority method: each annotator's one-coin matrix at the accuracy their vote weighs
        # with (beyond their own chance level), whose diagonal is that accuracy
        priors = result.one_coin.priors
        confusion = [one_coin_matrix(float(a), len(classes)) for a in result.one_coin.vote_accuracies]
    model = DawidSkeneModel(
        classes=classes,
        priors=priors,
        confusion={str(w): confusion[j] for j, w in enumerate(workers)},
        # An annotator the fit has not seen may be a fresh account of a known group: it counts
        # as an unknown one, not as the crowd's average.
        default_confusion=one_coin_matrix(UNKNOWN_ACCURACY, len(classes)),
        n_iter=fit.n_iter,
        log_likelihood=fit.log_likelihood,
        converged=fit.converged,
        label_count=len(coded),
        meta={
            "method": choice.method,
            "held_out": choice.to_json(),
            "groups": groups,
            "flagged_pairs": flagged_pairs,
            "persisted_groups": len(persisted),
            "gold_items": int((gold >= 0).sum()),
            "levels": {str(w): lv for w, lv in zip(workers, worker_levels, strict=True) if lv},
            "prior_strength": settings.QUALITY_DS_PRIOR_STRENGTH,
            "smoothing": settings.QUALITY_DS_SMOOTHING,
        },
    )
    row, _ = ProjectQualityModel.objects.update_or_create(
        project_id=project_id,
        defaults={
            "method": choice.method,
            "parameters": model.to_json(),
            "label_count": len(coded),
            "fitted_at": timezone.now(),
            "fit_seconds": time.perf_counter() - started,
        },
    )
    return row
