"""What both crowd simulations build: a lab and project, items with known truth (some gold),
and annotators with an approved credential in the project's domain."""

from __future__ import annotations

import random
import uuid
from typing import Any

CHOICES = ("A", "B", "tie", "both_bad")


def crowd_project(args) -> tuple[Any, Any]:
    """A new lab, domain and active project from the simulation's options."""
    from annotate.models import Project
    from annotate.schema import DEFAULT_SCHEMA, schema_normalize
    from rlhf_platform.accounts.models import Lab
    from rlhf_platform.experts.models import Domain

    tag = uuid.uuid4().hex[:8]
    lab = Lab.objects.create(name=f"crowd {tag}", slug=f"crowd-{tag}")
    domain = Domain.objects.create(slug=f"crowd-{tag}", name=f"Crowd {tag}", path=f"crowd-{tag}")
    fields = {}
    if args.gold_threshold is not None:
        fields["gold_threshold"] = args.gold_threshold
    if args.gold_min_seen is not None:
        fields["gold_min_seen"] = args.gold_min_seen
    project = Project.objects.create(
        lab=lab,
        name=f"crowd {tag}",
        domain=domain,
        status=Project.Status.ACTIVE,
        overlap=args.overlap,
        max_overlap=args.max_overlap,
        gold_rate=args.gold_rate,
        label_schema=schema_normalize(DEFAULT_SCHEMA),
        **fields,
    )
    return project, domain


def crowd_items(
    project, *, rng: random.Random, items: int, gold_items: int, overlap: int
) -> dict[int, tuple]:
    """``items`` ordinary items (with their slots) then ``gold_items`` gold ones; returns each
    item's true (choice, strength). Gold answers carry strength bands of one level."""
    from annotate.models import Batch, Item, Slot

    batch = Batch.objects.create(
        project=project, status="ingested", request_sha256="0" * 64, content_type="x"
    )
    truth: dict[int, tuple[str, int | None]] = {}
    for n in range(items + gold_items):
        choice = rng.choices(CHOICES, weights=(45, 45, 7, 3))[0]
        strength = rng.randint(1, 3) if choice in ("A", "B") else None
        gold = None
        if n >= items:
            gold = {"choice": choice, "explanation": "simulated"}
            if strength is not None:
                gold.update(strength_min=max(1, strength - 1), strength_max=min(3, strength + 1))
        responses = [{"id": f"r{i}", "model": "m", "text": f"answer {i} of {n}"} for i in range(2)]
        item = Item.objects.create(
            project=project,
            batch=batch,
            external_id=f"i{n}",
            prompt="?",
            responses=responses,
            metadata={"truth": choice},
            is_gold=gold is not None,
            gold=gold,
        )
        truth[item.pk] = (choice, strength)
        if gold is None:
            Slot.objects.bulk_create(
                Slot(item=item, project=project, idx=i, state="open" if i == 0 else "waiting")
                for i in range(overlap)
            )
    return truth


def crowd_annotator(domain, name: str, *, level: int = 3) -> Any:
    """An expert profile with an approved credential of ``level`` in ``domain``."""
    from rlhf_platform.accounts.models import User
    from rlhf_platform.experts.models import Credential, ExpertProfile

    user = User.objects.create_user(email=f"{name}-{uuid.uuid4().hex[:8]}@crowd.example", password=None)
    expert = ExpertProfile.objects.create(user=user)
    Credential.objects.create(
        expert=expert,
        domain=domain,
        kind="degree",
        title="PhD",
        issuer="U",
        issued_on="2020-01-01",
        status="approved",
        level=level,
    )
    return expert


def crowd_submit(assignment, expert, *, choice: str, strength: int | None, client_id: str) -> None:
    """Submit a canonical answer (choice A = response 0) in the letters the expert was shown."""
    from annotate.queue import assignment_submit

    shown = "AB"[assignment.shown_order.index("AB".index(choice))] if choice in ("A", "B") else choice
    payload: dict[str, Any] = {"choice": shown}
    if strength is not None:
        payload["strength"] = strength
    assignment_submit(assignment=assignment, expert=expert, payload=payload, client_id=client_id)
