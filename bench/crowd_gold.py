"""How much of the gold key a 10-account group can rebuild, read from the database.

An expert is shown a gold item's expected answer only in their gold review, once the item is
retired from the gold pool (annotate/quality/gold_pool.py), and only when the project shows gold
answers (``Project.gold_feedback``). So a group (the accounts of one ``sybil_random`` or
``sybil_copy`` population) holds an item's answer from the item's retirement on, provided one
of its members answered it as gold.

- ``gold_key_leak_share``: the share of the gold pool (lab and silver items, counted at the
  end) whose answer the group held while the item could still be served as gold to one of its
  members: some member's gold lease of the item began after the answer was shown (or the item
  is still live with its answer shown). Zero by construction (a retired item is never served
  again); measured, not assumed.
- ``gold_answers_seen_share``: the share of the pool whose answer the group was shown at all,
  retired items included (a key to nothing still served).
- ``gold_pool_live``, ``gold_pool_retired``, ``gold_pool_silver``: the pool at the end.

The worst group is reported; ``by_group`` holds each.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

GROUPS = ("sybil_random", "sybil_copy")


def gold_key_leak(project, accounts) -> dict[str, Any]:
    from annotate.models import Assignment, Item, Label

    project.refresh_from_db(fields=["gold_feedback"])
    pool = dict(Item.objects.filter(project=project, gold__isnull=False).values_list("pk", "gold_retired_at"))
    silver = Item.objects.filter(project=project, gold_source="silver").count()
    retired = sum(at is not None for at in pool.values())
    by_group: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        members = [a.expert.pk for a in accounts if a.population == group]
        if not members:
            continue
        # When the group was first shown each item's answer: its retirement, if a member answered
        # it as gold and the project shows gold answers.
        shown: dict[int, Any] = {}
        if project.gold_feedback:
            answered = Label.objects.filter(project=project, is_gold=True, expert_id__in=members)
            for item_id in answered.values_list("item_id", flat=True).distinct():
                if pool.get(item_id) is not None:
                    shown[item_id] = pool[item_id]
        # Every gold lease a member took, by item.
        leases: dict[int, list] = defaultdict(list)
        for item_id, leased_at in Assignment.objects.filter(
            project=project, is_gold=True, expert_id__in=members
        ).values_list("item_id", "leased_at"):
            leases[item_id].append(leased_at)
        leaked = {
            item_id
            for item_id, at in shown.items()
            if pool.get(item_id) is None or any(leased > at for leased in leases.get(item_id, ()))
        }
        size = max(1, len(pool))
        by_group[group] = {
            "members": len(members),
            "gold_served": sum(len(v) for v in leases.values()),
            "answers_seen": len(shown),
            "leaked": len(leaked),
            "gold_key_leak_share": round(len(leaked) / size, 4),
            "gold_answers_seen_share": round(len(shown) / size, 4),
        }
    worst = lambda key: max((g[key] for g in by_group.values()), default=0.0)  # noqa: E731
    return {
        "gold_key_leak_share": worst("gold_key_leak_share"),
        "gold_answers_seen_share": worst("gold_answers_seen_share"),
        "gold_pool_live": len(pool) - retired,
        "gold_pool_retired": retired,
        "gold_pool_silver": silver,
        "by_group": by_group,
    }
