"""Rewards in the adversarial crowd: the project's policy, and what each population was paid.

:func:`crowd_policy` gives the crowd's project a reward policy of either kind (the same base
rate and level multipliers, so the two kinds compare) and a budget that never runs out;
:func:`reward_figures` reads the ledger per account at the end of a run:

- ``reward_per_account_<population>``: what the population's accounts hold as payable (paid
  now: rewards less clawbacks, plus adjustments and released holdbacks), per account;
- ``held_per_account_<population>``: what is still held back for them (pending, per account);
- ``reward_per_label_<population>`` and ``held_per_label_<population>``: the same per label
  they gave (gold labels included);
- ``cheater_share_of_nonexpert_max``: the largest cheating population's (paid + held) per
  account over an honest non-expert's;
- ``expert_minority_paid_share``: of the experts' right labels on hard items whose labels'
  plurality answer was wrong, the share paid at least the base rate (reward and adjustments);
- ``split_breakers_<population>``: the votes that broke a tie among an item's other first
  labels and so ended it at ``overlap`` labels, graded right as the right term grades them
  against the share truly right (:func:`split_breaker_figures`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

BASE_RATE = 10**15  # 0.001 token per label at level multiplier 1
MULTIPLIERS = {"1": 10_000, "2": 12_500, "3": 15_000, "4": 20_000}
CHEATERS = ("spammer", "always_a", "adaptive", "ring", "sybil_random", "sybil_copy")


def crowd_policy(project, kind: str = "information", **settings: Any):
    """A reward policy of ``kind`` (``agreement``: today's formula; ``information``) for the
    crowd's project, in force from now, and a lab budget that covers every label."""
    from rewards.ledger import lab_budget_account, ledger_post, treasury_account
    from rewards.models import LedgerTransaction
    from rewards.services import reward_policy_create

    policy = reward_policy_create(
        project=project, base_rate=BASE_RATE, level_multipliers_bp=MULTIPLIERS, kind=kind, **settings
    )
    amount = BASE_RATE * 10**6
    ledger_post(
        kind=LedgerTransaction.Kind.BUDGET_CREDIT,
        reference=f"crowd-budget:{project.pk}",
        legs=[(treasury_account(), -amount), (lab_budget_account(lab_id=project.lab_id), amount)],
        lab_id=project.lab_id,
        memo="crowd simulation budget",
    )
    return policy


def reward_figures(project, accounts: list, truth: dict, hard: set) -> dict[str, Any]:
    """The figures of the module's docstring, from the ledger."""
    from django.db.models import F

    from annotate.models import Label
    from rewards.ledger import sums_by
    from rewards.models import LedgerAccount, LedgerEntry, LedgerTransaction, RewardPolicy

    policy = RewardPolicy.objects.filter(project=project).order_by("-version").first()
    base = int(policy.base_rate) if policy else 0
    experts = [a.expert.pk for a in accounts]
    entries = LedgerEntry.objects.filter(account__expert_id__in=experts, transaction__project=project)
    payable = sums_by(entries.filter(account__kind=LedgerAccount.Kind.ANNOTATOR), "account__expert_id")
    held = sums_by(entries.filter(account__kind=LedgerAccount.Kind.HELD), "account__expert_id")

    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "paid": 0, "held": 0, "labels": 0})
    for account in accounts:
        row = totals[account.population]
        row["n"] += 1
        row["paid"] += payable.get(account.expert.pk, 0)
        row["held"] += held.get(account.expert.pk, 0)
        row["labels"] += account.labels
    figures: dict[str, Any] = {"reward_policy_kind": policy.kind if policy else None}
    per_account: dict[str, float] = {}
    for population, row in sorted(totals.items()):
        n, labels = max(1, row["n"]), max(1, row["labels"])
        figures[f"reward_per_account_{population}"] = round(row["paid"] / n / base, 3) if base else 0
        figures[f"held_per_account_{population}"] = round(row["held"] / n / base, 3) if base else 0
        figures[f"reward_per_label_{population}"] = round(row["paid"] / labels / base, 4) if base else 0
        figures[f"held_per_label_{population}"] = round(row["held"] / labels / base, 4) if base else 0
        per_account[population] = (row["paid"] + row["held"]) / n
    honest = per_account.get("nonexpert") or 0
    if honest:
        shares = {p: per_account[p] / honest for p in CHEATERS if p in per_account}
        figures["cheater_share_of_nonexpert"] = {p: round(v, 3) for p, v in shares.items()}
        figures["cheater_share_of_nonexpert_max"] = round(max(shares.values(), default=0.0), 3)
        label_rate = {
            p: (totals[p]["paid"] + totals[p]["held"]) / max(1, totals[p]["labels"]) for p in totals
        }
        if label_rate.get("nonexpert"):
            figures["expert_over_nonexpert_per_label"] = round(
                label_rate.get("expert", 0) / label_rate["nonexpert"], 3
            )
    figures["reward_unit"] = "base rate (policy base_rate per label)"
    figures.update(term_figures(project, accounts, truth, base))
    figures.update(source_figures(project, accounts, base))
    figures.update(split_breaker_figures(project, accounts, truth))

    # Experts right against a wrong plurality on hard items, and what each such label earned.
    population = {a.expert.pk: a.population for a in accounts}
    by_item: dict[Any, list[tuple[Any, Any, str]]] = defaultdict(list)
    rows = Label.objects.filter(project=project, is_gold=False, item_id__in=list(hard)).values_list(
        "item_id", "id", "expert_id", "choice"
    )
    for item_id, label_id, expert_id, choice in rows:
        by_item[item_id].append((label_id, expert_id, choice))
    minority: list[Any] = []
    for item_id, labels in by_item.items():
        counts = Counter(choice for _l, _e, choice in labels).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            continue  # no plurality
        if counts[0][0] == truth[item_id][0]:
            continue
        minority += [
            label_id
            for label_id, expert_id, choice in labels
            if population.get(expert_id) == "expert" and choice == truth[item_id][0]
        ]
    earned: dict[Any, int] = defaultdict(int)
    kinds = (LedgerTransaction.Kind.REWARD, LedgerTransaction.Kind.REWARD_ADJUSTMENT)
    for label_id, kind, data, amount in LedgerTransaction.objects.filter(
        label_id__in=minority, kind__in=kinds
    ).values_list("label_id", "kind", "data", "amount"):
        if kind == LedgerTransaction.Kind.REWARD:
            earned[label_id] += int(amount)
        else:
            earned[label_id] += int((data or {}).get("adjustment") or 0)
    paid = sum(1 for label_id in minority if base and earned.get(label_id, 0) >= base)
    sided_rows = Label.objects.filter(id__in=minority, item__consensus__choice=F("choice"))
    sided = set(sided_rows.values_list("id", flat=True))
    figures["expert_minority_consensus_sided_share"] = (
        round(len(sided) / len(minority), 4) if minority else "none"
    )
    figures["expert_minority_item_states"] = dict(
        Counter(Label.objects.filter(id__in=minority).values_list("item__state", flat=True))
    )
    figures["expert_minority_paid_share_when_sided"] = (
        round(sum(1 for i in sided if base and earned.get(i, 0) >= base) / len(sided), 4) if sided else "none"
    )
    figures["expert_minority_labels"] = len(minority)
    figures["expert_minority_paid_share"] = round(paid / len(minority), 4) if minority else "none"
    figures["expert_minority_underpaid"] = minority_underpaid(
        [label_id for label_id in minority if earned.get(label_id, 0) < base], base
    )
    return figures


def source_figures(project, accounts: list, base: int) -> dict[str, Any]:
    """``pay_sources_<population>``: per account, in base rates, what each kind of ledger
    transaction moved into the population's payable and held accounts (rewards, releases,
    settlements and adjustments, clawbacks, forfeits), so a population's pay can be traced to
    the rule that paid it. Settlements (``reward_settle:``) are told apart from the adjustments
    that follow a consensus revision."""
    from django.db.models import Case, CharField, Sum, Value, When

    from rewards.models import LedgerAccount, LedgerEntry

    if not base:
        return {}
    population = {a.expert.pk: a.population for a in accounts}
    size = Counter(population.values())
    source = Case(
        When(transaction__reference__startswith="reward_settle:", then=Value("settlement")),
        default="transaction__kind",
        output_field=CharField(),
    )
    rows = (
        LedgerEntry.objects.filter(
            account__expert_id__in=list(population),
            account__kind__in=[LedgerAccount.Kind.ANNOTATOR, LedgerAccount.Kind.HELD],
            transaction__project=project,
        )
        .annotate(source=source)
        .values("account__expert_id", "account__kind", "source")
        .annotate(total=Sum("amount"))
    )
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        name = population[row["account__expert_id"]]
        held = row["account__kind"] == LedgerAccount.Kind.HELD
        key = f"{row['source']}_held" if held else row["source"]
        out[name][key] += int(row["total"]) / base / size[name]
    return {
        f"pay_sources_{name}": {k: round(v, 3) for k, v in sorted(sources.items()) if round(v, 3)}
        for name, sources in sorted(out.items())
    }


def minority_underpaid(label_ids: list, base: int) -> list[dict[str, Any]]:
    """For each expert minority label paid under the base rate: its grade and terms as
    rewarded, and each later adjustment's reason and amount (base rates)."""
    from rewards.models import LedgerTransaction

    rows = LedgerTransaction.objects.filter(label_id__in=label_ids).order_by("created_at", "id")
    details: dict[Any, dict[str, Any]] = {}
    for txn in rows.values("label_id", "kind", "reference", "data", "amount"):
        data = txn["data"] or {}
        row = details.setdefault(str(txn["label_id"]), {"steps": []})
        if txn["kind"] == LedgerTransaction.Kind.REWARD:
            row.update(
                right=data.get("right"),
                peer=round(int(data.get("peer_amount") or 0) / base, 3),
                right_amount=round(int(data.get("right_amount") or 0) / base, 3),
                right_window={k: data.get("right_window", {}).get(k) for k in ("n", "hits", "shown")},
                consensus=(data.get("consensus") or {}).get("choice"),
                level=data.get("level"),
            )
        elif txn["kind"] == LedgerTransaction.Kind.REWARD_ADJUSTMENT:
            step = txn["reference"].split(":")[0]
            row["steps"].append((step, round(int(data.get("adjustment") or 0) / base, 3), data.get("right")))
    return list(details.values())


def term_figures(project, accounts: list, truth: dict, base: int) -> dict[str, Any]:
    """Where each population's pay comes from, per rewarded label: ``peer_per_label_<p>`` and
    ``right_per_label_<p>`` (base rates, held shares included), ``graded_right_share_<p>`` (the
    share of its rewards whose label was graded right) and ``truly_right_share_<p>`` (the share
    right against the simulation's truth)."""
    from rewards.models import LedgerTransaction

    if not base:
        return {}
    population = {a.expert.pk: a.population for a in accounts}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rows = LedgerTransaction.objects.filter(
        project=project, kind=LedgerTransaction.Kind.REWARD, data__kind="information"
    ).values_list("expert_id", "label__item_id", "data")
    for expert_id, item_id, data in rows:
        row = sums[population.get(expert_id, "other")]
        row["n"] += 1
        row["peer"] += int(data.get("peer_amount") or 0)
        row["right"] += int(data.get("right_amount") or 0)
        row["graded"] += data.get("right") is True
        answer = truth.get(item_id)
        row["true"] += bool(answer) and data.get("label_choice") == answer[0]
    out: dict[str, Any] = {}
    for name, row in sorted(sums.items()):
        n = max(1.0, row["n"])
        out[f"peer_per_label_{name}"] = round(row["peer"] / n / base, 4)
        out[f"right_per_label_{name}"] = round(row["right"] / n / base, 4)
        out[f"graded_right_share_{name}"] = round(row["graded"] / n, 3)
        out[f"truly_right_share_{name}"] = round(row["true"] / n, 3)
    return out


def split_breaker_figures(project, accounts: list, truth: dict) -> dict[str, Any]:
    """``split_breakers_<p>``: ``[count, graded right share, truly right share]`` of the
    population's ordinary labels that broke a tie among the other labels of an item that then
    became final with exactly ``overlap`` labels (for overlap 3: the other two disagreed and the
    label sided with one). The consensus without such a label is a tie decided by the two
    voters' weights, and the item stops only when the label sided with the side that wins it; a
    label that sided with the other side sends the item to more annotators. Graded right means
    what the right term of an annotator without a vouching record counts: the label agrees with
    the item's consensus and with its leave-one-out consensus (``Label.loo_choice``, when
    computed)."""
    from annotate.models import Item, Label
    from rewards.policy_information import agrees_on_its_own, breaks_a_tie

    population = {a.expert.pk: a.population for a in accounts}
    by_item: dict[Any, list[tuple[Any, str, str, str]]] = defaultdict(list)
    rows = Label.objects.filter(
        project=project, is_gold=False, excluded_from_consensus=False, item__state=Item.State.FINAL
    ).values_list("item_id", "expert_id", "choice", "loo_choice", "item__consensus__choice")
    for item_id, expert_id, choice, loo, consensus in rows:
        by_item[item_id].append((expert_id, choice, loo, consensus or ""))
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item_id, labels in by_item.items():
        if len(labels) != project.overlap:
            continue
        for n, (expert_id, choice, loo, consensus) in enumerate(labels):
            others = Counter(c for m, (_e, c, _l, _c) in enumerate(labels) if m != n and c)
            if not breaks_a_tie(choice, others):
                continue
            row = sums[population.get(expert_id, "other")]
            row[0] += 1
            row[1] += bool(agrees_on_its_own(choice=choice, reference=consensus, loo=loo, trusted=False))
            answer = truth.get(item_id)
            row[2] += bool(answer) and choice == answer[0]
    return {
        f"split_breakers_{name}": [n, round(graded / max(1, n), 3), round(true / max(1, n), 3)]
        for name, (n, graded, true) in sorted(sums.items())
    }
