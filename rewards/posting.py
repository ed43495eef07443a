"""Posting the rewards of final items' labels, for one item (``rewards.services.item_rewards``)
or for many at once (the rewards drain, ``rewards.drain``): the same rows either way.

A batch is one database transaction:

1. the items, their labels, the policies in force when each item became final, the labels
   already rewarded and the consensus are read once for the whole batch;
2. every account the batch may move (each lab's budget, each expert's payable and held
   accounts) is locked once, in ascending id order (``rewards.ledger.ledger_lock``): a lab's
   budget row is taken once per batch, not once per item, and no two batches deadlock;
3. rewards of ``agreement`` policies do not depend on one another: they are posted together by
   one ``ledger_post_many``. Rewards of ``information`` policies read the annotator's earlier
   rewards (their peer-score window): they are computed and posted item by item, in the order
   the items became final, as the per-item path would.

Idempotent per label (``reward:<label id>``): a label already rewarded is returned, not posted
again; a batch that fails leaves nothing posted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.models import Item, ItemConsensus, Label, ProjectSuspension
from annotate.quality.groups import group_held_expert_ids
from rewards.ledger import (
    expert_account,
    lab_budget_account,
    ledger_account,
    ledger_lock,
    ledger_post_many,
)
from rewards.models import LedgerAccount, LedgerTransaction, RewardPolicy
from rewards.policy import gold_windows, reward_compute
from rlhf_platform.experts.selectors import expertise_levels_in_domain


def reward_reference(label_id: Any) -> str:
    return f"reward:{label_id}"


def _excluded_unfairly(label: Label) -> bool:
    """Excluded by a suspension that staff then reinstated on appeal: out of the consensus
    already delivered, but the expert is paid for the work."""
    suspension = label.excluded_by
    return suspension is not None and suspension.appeal == ProjectSuspension.Appeal.REINSTATED


def _rewardable(label: Label) -> bool:
    return not label.is_gold and not (label.excluded_from_consensus and not _excluded_unfairly(label))


def _reward_posting(
    *,
    label: Label,
    policy: Any,
    consensus: ItemConsensus | None,
    budget: LedgerAccount,
    payable: LedgerAccount | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ledger posting of a label's reward (the arguments of ``ledger_post``, one of
    ``ledger_post_many``'s postings); ``payable``: the expert's payable account, and
    ``inputs``: the level and gold window of an ``agreement`` reward, when the caller has
    read them already."""
    if policy.kind == RewardPolicy.Kind.INFORMATION:
        from rewards.holdbacks import information_posting

        return information_posting(label=label, policy=policy, consensus=consensus, budget=budget)
    breakdown = reward_compute(label=label, policy=policy, consensus=consensus, **(inputs or {}))
    amount = breakdown["amount"]
    payable = payable or expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=label.expert_id)
    return reward_posting_build(label=label, legs=[(budget, -amount), (payable, amount)], data=breakdown)


def reward_posting_build(*, label: Label, legs: list, data: dict[str, Any]) -> dict[str, Any]:
    """The ledger posting of a label's reward (for ``ledger_post_many``): its reference, legs
    and the statement's ``data`` with the item and when it became final."""
    item = label.item
    return {
        "kind": LedgerTransaction.Kind.REWARD,
        "reference": reward_reference(label.pk),
        "legs": legs,
        "memo": f"label on {item.external_id}",
        "lab_id": label.project.lab_id,
        "project_id": label.project_id,
        "expert_id": label.expert_id,
        "label_id": label.pk,
        "data": {
            **data,
            "item": str(item.uid),
            "finalized_at": item.finalized_at.isoformat() if item.finalized_at else None,
        },
    }


def _policies_in_force(items: list[dict[str, Any]]) -> dict[Any, RewardPolicy]:
    """The policy in force when each item became final (``rewards.policy.policy_in_force``
    at its ``finalized_at``), by item id; one read per project."""
    versions: dict[Any, list[RewardPolicy]] = defaultdict(list)
    for policy in RewardPolicy.objects.filter(project_id__in={item["project_id"] for item in items}).order_by(
        "-effective_from", "-version"
    ):
        versions[policy.project_id].append(policy)
    now = timezone.now()
    found = {}
    for item in items:
        at = item["finalized_at"] or now
        policy = next((p for p in versions[item["project_id"]] if p.effective_from <= at), None)
        if policy is not None:
            found[item["id"]] = policy
    return found


def reward_accounts_ensure(*, item_ids: list[Any]) -> None:
    """Create the accounts the rewards of these items' labels may move and that do not exist
    yet (each lab's budget, each expert's payable account, and their held account in a project
    with an ``information`` policy). Called before the posting's transaction, so that each new
    account is committed on its own: two batches creating the same account inside their
    transactions would wait on each other's uncommitted row, in any order (a deadlock)."""
    rows = set(
        Label.objects.filter(item_id__in=list(item_ids), is_gold=False).values_list(
            "project_id", "project__lab_id", "expert_id"
        )
    )
    if not rows:
        return
    informed = set(
        RewardPolicy.objects.filter(
            project_id__in={row[0] for row in rows}, kind=RewardPolicy.Kind.INFORMATION
        ).values_list("project_id", flat=True)
    )
    wanted = {(LedgerAccount.Kind.LAB_BUDGET, lab_id, None) for _p, lab_id, _e in rows}
    wanted |= {(LedgerAccount.Kind.ANNOTATOR, None, expert_id) for _p, _l, expert_id in rows}
    wanted |= {(LedgerAccount.Kind.HELD, None, e) for project_id, _l, e in rows if project_id in informed}
    existing = set(
        LedgerAccount.objects.filter(
            Q(kind=LedgerAccount.Kind.LAB_BUDGET, lab_id__in={w[1] for w in wanted if w[1]})
            | Q(
                kind__in=[LedgerAccount.Kind.ANNOTATOR, LedgerAccount.Kind.HELD],
                expert_id__in={w[2] for w in wanted if w[2]},
            )
        ).values_list("kind", "lab_id", "expert_id")
    )
    for kind, lab_id, expert_id in sorted(wanted - existing, key=str):
        ledger_account(kind=kind, lab_id=lab_id, expert_id=expert_id)


def rewards_post(*, item_ids: list[Any], label_id: Any = None) -> dict[Any, LedgerTransaction]:
    """Post the rewards of the labels of these items (of the one label ``label_id`` when given)
    that are due one, in one transaction; each rewarded label's transaction, new or already
    posted, by label id.

    Nothing for items not final or gold, gold labels, labels excluded from consensus (unless by
    a suspension reinstated on appeal), members of a suspected group (paid when staff clear
    it), or an item of a project without a policy in force when it became final. A reward of 0
    is still posted (a transaction without entries) so the expert's statement shows why."""
    if not transaction.get_connection().in_atomic_block:
        reward_accounts_ensure(item_ids=item_ids)
    with transaction.atomic():
        return _rewards_post(item_ids=item_ids, label_id=label_id)


def _rewards_post(*, item_ids: list[Any], label_id: Any = None) -> dict[Any, LedgerTransaction]:
    items = list(
        Item.objects.filter(pk__in=list(item_ids), state=Item.State.FINAL, is_gold=False)
        .order_by("finalized_at", "pk")
        .values("id", "project_id", "finalized_at")
    )
    policies = _policies_in_force(items)
    items = [item for item in items if item["id"] in policies]
    if not items:
        return {}
    candidates = Label.objects.select_related("item", "project__domain", "expert", "excluded_by").filter(
        item_id__in=[item["id"] for item in items]
    )
    if label_id is not None:
        candidates = candidates.filter(pk=label_id)
    held = {pid: group_held_expert_ids(project_id=pid) for pid in {item["project_id"] for item in items}}
    by_item: dict[Any, list[Label]] = defaultdict(list)
    for label in candidates.order_by("created_at", "pk"):
        if _rewardable(label) and label.expert_id not in held[label.project_id]:
            by_item[label.item_id].append(label)
    label_of = {reward_reference(label.pk): label.pk for labels in by_item.values() for label in labels}
    posted = {
        label_of[txn.reference]: txn for txn in LedgerTransaction.objects.filter(reference__in=list(label_of))
    }
    todo = {
        item["id"]: [label for label in by_item[item["id"]] if label.pk not in posted]
        for item in items
        if any(label.pk not in posted for label in by_item[item["id"]])
    }
    if todo:
        due = [item for item in items if item["id"] in todo]
        _post(items=due, todo=todo, policies=policies, posted=posted)
    return {
        label.pk: posted[label.pk] for labels in by_item.values() for label in labels if label.pk in posted
    }


def _post(
    *,
    items: list[dict[str, Any]],
    todo: dict[Any, list[Label]],
    policies: dict[Any, RewardPolicy],
    posted: dict[Any, LedgerTransaction],
) -> None:
    """Compute and post the rewards of ``todo`` (labels by item id, ``items`` in the order they
    became final) into ``posted``, with the accounts locked once (see the module)."""
    consensus = {c.item_id: c for c in ItemConsensus.objects.filter(item_id__in=list(todo))}
    budgets: dict[Any, LedgerAccount] = {}
    for labels in todo.values():
        lab_id = labels[0].project.lab_id
        if lab_id not in budgets:
            budgets[lab_id] = lab_budget_account(lab_id=lab_id)
    informed = [item for item in items if policies[item["id"]].kind == RewardPolicy.Kind.INFORMATION]
    agreed = [item for item in items if policies[item["id"]].kind != RewardPolicy.Kind.INFORMATION]
    payables = {
        account.expert_id: account
        for account in LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.ANNOTATOR,
            expert_id__in={label.expert_id for item in agreed for label in todo[item["id"]]},
        )
    }
    inputs = _agreement_inputs(items=agreed, todo=todo, policies=policies)
    postings = [
        _reward_posting(
            label=label,
            policy=policies[item["id"]],
            consensus=consensus.get(item["id"]),
            budget=budgets[label.project.lab_id],
            payable=payables.get(label.expert_id),
            inputs=inputs[label.pk],
        )
        for item in agreed
        for label in todo[item["id"]]
    ]
    accounts = list(budgets.values())
    accounts += [account for posting in postings for account, _amount in posting["legs"]]
    experts = {label.expert_id for item in informed for label in todo[item["id"]]}
    for expert_id in sorted(experts, key=str):
        accounts.append(expert_account(kind=LedgerAccount.Kind.ANNOTATOR, expert_id=expert_id))
        accounts.append(expert_account(kind=LedgerAccount.Kind.HELD, expert_id=expert_id))
    ledger_lock(accounts)
    if postings:
        for txn, _created in ledger_post_many(postings):
            posted[txn.label_id] = txn  # the reference names the label: reward:<label id>
    for item in informed:
        item_postings = [
            _reward_posting(
                label=label,
                policy=policies[item["id"]],
                consensus=consensus.get(item["id"]),
                budget=budgets[label.project.lab_id],
            )
            for label in todo[item["id"]]
        ]
        for txn, _created in ledger_post_many(item_postings):
            posted[txn.label_id] = txn


def _agreement_inputs(
    *, items: list[dict[str, Any]], todo: dict[Any, list[Label]], policies: dict[Any, RewardPolicy]
) -> dict[Any, dict[str, Any]]:
    """The level and gold window of each label of ``agreement`` rewards (what
    ``reward_compute`` reads per label), read for the whole group: one read per domain and
    day for the levels, two per expert and policy for the gold windows."""
    by_day: dict[tuple, list[Label]] = defaultdict(list)
    by_policy: dict[Any, list[Label]] = defaultdict(list)
    for item in items:
        for label in todo[item["id"]]:
            by_day[(label.project.domain_id, label.created_at.date())].append(label)
            by_policy[policies[item["id"]].pk].append(label)
    inputs: dict[Any, dict[str, Any]] = defaultdict(dict)
    for (_domain_id, day), labels in by_day.items():
        experts = list({label.expert_id for label in labels})
        levels = expertise_levels_in_domain(expert_ids=experts, domain=labels[0].project.domain, today=day)
        for label in labels:
            inputs[label.pk]["level"] = levels.get(label.expert_id, 0)
    by_id = {policy.pk: policy for policy in policies.values()}
    for policy_id, labels in by_policy.items():
        for label_id, gold in gold_windows(labels=labels, policy=by_id[policy_id]).items():
            inputs[label_id]["gold"] = gold
    return inputs
