"""The adversarial crowd: known-truth populations of honest annotators and of the people who
attack a platform that pays per label, driven through the real queue and quality pipeline.

Populations (``--adversarial``; counts are options):

- ``expert``: honest, right 85-95% of the time (drawn per account), 85% on hard items, with a
  level-4 credential in the domain (everyone else holds level 2);
- ``nonexpert``: honest, right 65-75%, 35% on hard items;
- ``spammer``: a uniformly random choice and strength;
- ``always_a``: always the response shown first ("A" on the screen);
- ``adaptive``: careful (right 90%) until it has answered 10 gold items, then a spammer;
- ``ring``: 4 accounts giving the same item-dependent answer, right 30% of the time;
- ``sybil_random``: 10 accounts of one person, each answering at random;
- ``sybil_copy``: 10 accounts of one person, all giving one item-dependent answer, right 30%.

A quarter of the items (gold included) are hard. A wrong answer is uniform over the other
choices. Every account logs in once through the log-in fingerprint service (a Sybil farm's ten
accounts from one device and with one credential file, unless ``--sybil-disguised``). Every label
goes through ``assignment_next`` and ``assignment_submit`` with the after-submit step run eagerly
(Celery eager), and the project's fit (Dawid-Skene and the group detection) runs every
``--refit-every`` labels as the beat would; after each fit the bench notes how many labels each
account had given when a persisted group first held it. The project pays under a reward policy
of ``--reward-kind`` (bench/crowd_rewards.py).

Adaptive accounts are picked ``--adaptive-weight`` times as often as the others to work next
(default 4: 30 to 56 golds each; at 1 they answer only about 12-15 golds in all and barely
switch), so that the spam golds it takes to suspend them are measurable.
Besides the figures below it prints, per population, the suspension test's largest statistic at
the end (nats), the silver evidence its labels gave (agreeing / graded), and the groups found.

Prints ``name=value`` lines: the accuracies of the delivered consensus, of plain majority vote
and of plain Dawid-Skene (all items, and the hard ones), the share of honest annotators
suspended, the spam golds an adaptive spammer got through after its switch, the labels each
ring or Sybil account gave before it was flagged, the honest accounts flagged, how much of the
gold key a 10-account group holds (bench/crowd_gold.py), and what each population was paid
(bench/crowd_rewards.py).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

CHOICES = ("A", "B", "tie", "both_bad")
NEVER = "never"


@dataclass
class Account:
    expert: Any
    population: str
    accuracy: float = 0.0
    hard_accuracy: float = 0.0
    golds: int = 0
    labels: int = 0
    golds_at_switch: int | None = None
    flagged_at_labels: int | None = None


POPULATIONS = ("expert", "nonexpert", "spammer", "always_a", "adaptive", "ring", "sybil_random", "sybil_copy")
GROUPS = ("ring", "sybil_random", "sybil_copy")
# Verified expertise: the experts hold a level-4 credential in the domain, everyone else (honest
# non-experts and every cheater, whose credentials also pass review) level 2.
EXPERT_LEVEL, CROWD_LEVEL = 4, 2
LOCKSTEP = ("ring", "sybil_copy")  # the groups that answer alike, so gain from labelling together
HONEST = ("expert", "nonexpert")


def add_arguments(parser) -> None:
    group = parser.add_argument_group("adversarial crowd (--adversarial)")
    group.add_argument("--adversarial", action="store_true", help="run the adversarial populations")
    for name, default in (
        ("expert", 10),
        ("nonexpert", 30),
        ("spammer", 3),
        ("always-a", 3),
        ("adaptive", 3),
        ("ring", 4),
        ("sybil-random", 10),
        ("sybil-copy", 10),
    ):
        group.add_argument(f"--n-{name}", type=int, default=default)
    group.add_argument("--hard-share", type=float, default=0.25)
    group.add_argument(
        "--contested-hold",
        type=int,
        default=86400,
        help="the project's contested_hold_seconds: how long an unsure item's extra slots wait for a "
        "senior annotator (the experts); 0 offers them to anyone at once",
    )
    group.add_argument("--adaptive-careful-golds", type=int, default=10)
    group.add_argument(
        "--adaptive-weight",
        type=float,
        default=4.0,
        help="how many times more often than others an adaptive account is picked to work next "
        "(at 1 each answers only about 12-15 golds in all, so it barely switches; at 4, 30-56)",
    )
    group.add_argument(
        "--sybil-disguised",
        action="store_true",
        help="the Sybil farms log in from a device and upload a credential file per account "
        "(by default each farm shares one device and one file)",
    )
    group.add_argument(
        "--lockstep",
        action="store_true",
        help="a copying group (ring, sybil_copy) works in lockstep: when one member takes an item "
        "the others take theirs right after, to land on the same items and carry their consensus",
    )
    group.add_argument(
        "--no-adjudicate",
        dest="adjudicate",
        action="store_false",
        help="leave the items in adjudication at the end undecided (by default a staff adjudicator, "
        "right as often as an expert, decides them after the consensus figures are read, before the "
        "reward figures)",
    )
    group.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="read the rewards as posted (by default the settling period then passes: the held "
        "shares are released or forfeited and settlement top-ups posted, before the reward figures)",
    )
    group.add_argument(
        "--repeatable",
        action="store_true",
        help="the same seed gives the same run: drops and recreates the database DATABASE_URL "
        "names, and seeds the queue's draws and the ids (UUIDs) the run creates",
    )
    group.add_argument(
        "--reward-kind",
        choices=("information", "agreement"),
        default="information",
        help="the project's reward policy: the information-paying kind or the agreement formula",
    )


def make_repeatable(seed: int) -> None:
    """Take the run's chance from ``seed`` alone: the queue's draws (shown order, gold, the
    least-exposed gold item) and every random id (``uuid.uuid4`` and tokens read
    ``os.urandom``), which order accounts wherever experts are sorted by id. For this benchmark
    process only; with a fresh database (sequences from 1) the same seed then gives the same
    labels, ids and figures."""
    import os

    import annotate.queue

    ids = random.Random(f"ids:{seed}")
    os.urandom = ids.randbytes  # uuid4, secrets: the bench's accounts, tags and pseudonyms
    # Labels draw their ids from a stream of their own: the peer draws are seeded with the
    # label's id, and rows made on a timer (live-update throttles) would shift a shared stream.
    import uuid

    from annotate.models import Label

    label_ids = random.Random(f"labels:{seed}")
    field = Label._meta.pk
    field.default = lambda: uuid.UUID(int=label_ids.getrandbits(128), version=4)
    field.__dict__.pop("_get_default", None)  # Django caches the default's callable
    annotate.queue._random = random.Random(f"queue:{seed}")  # noqa: S311 (a benchmark's draws)
    from django.db import connection
    from django.db.backends.signals import connection_created

    def _seed_sql(sender, connection, **kwargs) -> None:  # PostgreSQL's random() in the claim SQL
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT setseed(%s)", [random.Random(f"sql:{seed}").uniform(-1, 1)])

    connection_created.connect(_seed_sql, weak=False)
    if connection.connection is not None:
        _seed_sql(None, connection)


def _group_answer(group: str, item_id: int, truth: str) -> str:
    """One answer per item for a whole group: right 30% of the time, else a fixed wrong choice."""
    digest = hashlib.sha256(f"{group}:{item_id}".encode()).digest()
    if digest[0] < 77:  # 77/256, about 0.30
        return truth
    wrong = [c for c in CHOICES if c != truth]
    return wrong[digest[1] % len(wrong)]


def run(args) -> dict[str, Any]:
    from django.conf import settings
    from django.db import transaction

    from annotate.models import ItemConsensus, Label, ProjectQualityModel, ProjectSuspension
    from annotate.quality.aggregation import Vote, dawid_skene_aggregate, majority_vote
    from annotate.quality.services import project_model_fit, project_quality_recompute
    from annotate.queue import NoWork, assignment_next
    from bench.crowd_gold import gold_key_leak
    from bench.crowd_groups import crowd_login, group_flags, group_summary
    from bench.crowd_rewards import crowd_policy, reward_figures
    from bench.crowd_setup import crowd_annotator, crowd_items, crowd_project, crowd_submit

    rng = random.Random(args.seed)
    project, domain = crowd_project(args)
    # Unsure items' extra slots wait for the experts (level 4; everyone else is level 2) for
    # --contested-hold seconds; by default longer than a run, so the experts are taken to be at
    # work throughout and the run stays repeatable (a hold that ends mid-run would depend on the
    # machine's speed).
    type(project).objects.filter(pk=project.pk).update(contested_hold_seconds=args.contested_hold)
    project.refresh_from_db()
    crowd_policy(project, kind=args.reward_kind)
    gold_items = args.gold_items
    with transaction.atomic():
        truth = crowd_items(project, rng=rng, items=args.items, gold_items=gold_items, overlap=args.overlap)
    hard = {item_id for item_id in truth if rng.random() < args.hard_share}

    counts = {p: getattr(args, f"n_{p}") for p in POPULATIONS}
    accounts: list[Account] = []
    for population in POPULATIONS:
        for n in range(counts[population]):
            level = EXPERT_LEVEL if population == "expert" else CROWD_LEVEL
            expert = crowd_annotator(domain, f"{population}{n}", level=level)
            account = Account(expert=expert, population=population)
            if population == "expert":
                account.accuracy, account.hard_accuracy = rng.uniform(0.85, 0.95), 0.85
            elif population == "nonexpert":
                account.accuracy, account.hard_accuracy = rng.uniform(0.65, 0.75), 0.35
            elif population == "adaptive":
                account.accuracy = account.hard_accuracy = 0.9
            accounts.append(account)
            crowd_login(account.expert, population, n, rng, args.sybil_disguised)
    by_expert = {str(a.expert.pk): a for a in accounts}

    def honest_answer(accuracy: float, choice_true: str, strength_true: int | None) -> tuple[str, int | None]:
        if rng.random() < accuracy:
            strength = None
            if choice_true in ("A", "B"):
                strength = min(3, max(1, strength_true + rng.choice((-1, 0, 0, 1))))
            return choice_true, strength
        return _with_strength(rng.choice([c for c in CHOICES if c != choice_true]))

    def _with_strength(choice: str) -> tuple[str, int | None]:
        return choice, (rng.randint(1, 3) if choice in ("A", "B") else None)

    def answer(account: Account, assignment) -> tuple[str, int | None]:
        choice_true, strength_true = truth[assignment.item_id]
        population = account.population
        if population == "adaptive" and account.golds_at_switch is not None:
            population = "spammer"
        if population in ("expert", "nonexpert", "adaptive"):
            is_hard = assignment.item_id in hard
            return honest_answer(
                account.hard_accuracy if is_hard else account.accuracy, choice_true, strength_true
            )
        if population == "always_a":
            return _with_strength("AB"[assignment.shown_order[0]])
        if population in ("ring", "sybil_copy"):
            return _with_strength(_group_answer(population, assignment.item_id, choice_true))
        return _with_strength(rng.choice(CHOICES))

    def flag_groups() -> None:
        """Note the labels each account had given when the persisted groups (found by the
        project's fit) first held it."""
        flagged = group_flags(project)
        for account in accounts:
            if account.flagged_at_labels is None and flagged.get(str(account.expert.pk)):
                account.flagged_at_labels = account.labels

    started = time.perf_counter()
    active = list(accounts)
    labels = client = 0
    weighted = args.adaptive_weight != 1.0 or args.lockstep
    group_size = Counter(a.population for a in accounts)

    def weight(account: Account) -> float:
        if account.population == "adaptive":
            return args.adaptive_weight
        if args.lockstep and account.population in LOCKSTEP:
            return 1.0 / group_size[account.population]  # a run of m labels: the same work share
        return 1.0

    following: list[Account] = []  # a lockstep group's other members, who work next

    def pick() -> Account:
        while following:
            account = following.pop(0)
            if account in active:
                return account
        if not weighted:
            account = rng.choice(active)
        else:
            account = rng.choices(active, weights=[weight(a) for a in active])[0]
        if args.lockstep and account.population in LOCKSTEP:
            following.extend(a for a in active if a.population == account.population and a is not account)
        return account

    while active:
        account = pick()
        assignment = assignment_next(expert=account.expert, project=project)
        if isinstance(assignment, NoWork):
            active.remove(account)
            continue
        choice, strength = answer(account, assignment)
        client += 1
        crowd_submit(assignment, account.expert, choice=choice, strength=strength, client_id=f"s{client}")
        labels += 1
        account.labels += 1
        if assignment.is_gold:
            account.golds += 1
            careful = args.adaptive_careful_golds
            if (
                account.population == "adaptive"
                and account.golds >= careful
                and account.golds_at_switch is None
            ):
                account.golds_at_switch = account.golds
        if labels % args.refit_every == 0:
            project_model_fit(project_id=project.pk)
            flag_groups()
    run_seconds = time.perf_counter() - started
    flag_groups()

    project_quality_recompute(project_id=project.pk, refit=True)
    fitted = ProjectQualityModel.objects.get(project=project)
    meta = fitted.parameters.get("meta") or {}
    consensus = dict(ItemConsensus.objects.filter(item__project=project).values_list("item_id", "choice"))
    votes = [
        Vote(item=item_id, worker=str(expert_id), choice=choice)
        for item_id, expert_id, choice in Label.objects.filter(project=project, is_gold=False).values_list(
            "item_id", "expert_id", "choice"
        )
    ]
    majority = {item: result.choice for item, result in majority_vote(votes).items()}
    _, ds_posteriors = dawid_skene_aggregate(votes, smoothing=settings.QUALITY_DS_SMOOTHING)
    ds_plain = {item: max(p, key=p.get) for item, p in ds_posteriors.items()}
    items = sorted(majority)
    hard_items = [i for i in items if i in hard]

    def accuracy(result: dict, among: list) -> float:
        return sum(result.get(i) == truth[i][0] for i in among) / max(1, len(among))

    suspended = {
        str(e)
        for e in ProjectSuspension.objects.filter(project=project, active=True).values_list(
            "expert_id", flat=True
        )
    }
    honest = [a for a in accounts if a.population in HONEST]
    adaptive_spam_golds = [
        (a.golds - a.golds_at_switch) if str(a.expert.pk) in suspended else NEVER
        for a in accounts
        if a.population == "adaptive" and a.golds_at_switch is not None
    ]

    def flagged_max(populations: tuple[str, ...]) -> Any:
        members = [a for a in accounts if a.population in populations]
        if not members:
            return "none"
        if any(a.flagged_at_labels is None for a in members):
            return f"{NEVER} (labels per account up to {max(a.labels for a in members)})"
        return max(a.flagged_at_labels for a in members)

    leak = gold_key_leak(project, accounts)
    adjudicated = crowd_adjudicate(project, truth=truth, hard=hard, rng=rng) if args.adjudicate else 0
    settled = crowd_settle(project) if args.settle else {}
    rewards = reward_figures(project, accounts, truth, hard)
    return {
        "labels": labels,
        "items": len(items),
        "hard_items": len(hard_items),
        "adjudicated_items": adjudicated,
        "holdbacks_settled": settled,
        "consensus_accuracy": round(accuracy(consensus, items), 4),
        "majority_accuracy": round(accuracy(majority, items), 4),
        "ds_plain_accuracy": round(accuracy(ds_plain, items), 4),
        "consensus_accuracy_hard": round(accuracy(consensus, hard_items), 4),
        "majority_accuracy_hard": round(accuracy(majority, hard_items), 4),
        "honest_suspended_share": round(
            sum(str(a.expert.pk) in suspended for a in honest) / max(1, len(honest)), 4
        ),
        "suspended_by_population": dict(
            Counter(a.population for a in accounts if str(a.expert.pk) in suspended)
        ),
        "adaptive_max_spam_golds_to_suspend": _worst(adaptive_spam_golds),
        "adaptive_spam_golds": adaptive_spam_golds,
        "adaptive_golds": [a.golds for a in accounts if a.population == "adaptive"],
        "suspension_test_max_nats_by_population": _test_max(project, accounts),
        "silver_evidence_by_population": _silver_by(project, accounts),
        "ring_flagged_labels_max": flagged_max(("ring",)),
        "sybil_flagged_labels_max": flagged_max(("sybil_random", "sybil_copy")),
        "honest_flagged": sum(a.flagged_at_labels is not None for a in honest),
        **{k: v for k, v in leak.items() if k != "by_group"},
        **rewards,
        "consensus_method": fitted.method,
        "held_out_gold_loglik": (meta.get("held_out") or {}).get("scores"),
        "suspected_groups": [
            sorted(Counter(by_expert[w].population for w in group if w in by_expert).items())
            for group in meta.get("groups") or []
        ],
        "persisted_groups": [
            {
                "status": g["status"],
                "signals": g["signals"],
                "members": sorted(
                    Counter(by_expert[m].population for m in g["members"] if m in by_expert).items()
                ),
            }
            for g in group_summary(project)
        ],
        "labels_by_population": dict(_sum_by(accounts, "labels")),
        "run_seconds": round(run_seconds, 1),
    }


def _worst(values: list) -> Any:
    if not values:
        return "none"
    if NEVER in values:
        return f"{NEVER} (of {len(values)}, {values.count(NEVER)} never suspended)"
    return max(values)


def _sum_by(accounts: list[Account], attribute: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for account in accounts:
        totals[account.population] += getattr(account, attribute)
    return totals


def _test_max(project, accounts: list[Account]) -> dict[str, float]:
    """The suspension test's statistic (nats) at the end, the largest of each population."""
    from annotate.models import AnnotatorQuality
    from annotate.quality.cusum import SCALE

    value = dict(
        AnnotatorQuality.objects.filter(project=project).values_list("expert_id", "suspend_statistic")
    )
    top: dict[str, float] = defaultdict(float)
    for account in accounts:
        top[account.population] = max(top[account.population], value.get(account.expert.pk, 0) / SCALE)
    return dict(top)


def _silver_by(project, accounts: list[Account]) -> dict[str, str]:
    """Silver evidence by population: passed/graded of its labels."""
    from annotate.models import Label

    population = {account.expert.pk: account.population for account in accounts}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    graded = Label.objects.filter(project=project, silver_passed__isnull=False)
    for expert_id, passed in graded.values_list("expert_id", "silver_passed"):
        counts[population.get(expert_id, "?")][0] += int(passed)
        counts[population.get(expert_id, "?")][1] += 1
    return {name: f"{passed}/{total}" for name, (passed, total) in sorted(counts.items())}


def crowd_adjudicate(project, *, truth: dict, hard: set, rng) -> int:
    """Decide every item in adjudication as staff would (``item_adjudicate``): right with an
    expert's probability (0.9, 0.85 on hard items), else a wrong answer. Returns the count."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from annotate.models import Item
    from annotate.quality.adjudication import item_adjudicate

    user_model = get_user_model()
    staff, _ = user_model.objects.get_or_create(
        email="crowd-adjudicator@example.org",
        defaults={"is_staff": True, "staff_role": user_model.StaffRole.REVIEWER},
    )
    decided = 0
    for item_id in Item.objects.filter(project=project, state=Item.State.ADJUDICATION).values_list(
        "pk", flat=True
    ):
        choice_true, strength_true = truth[item_id]
        right = rng.random() < (0.85 if item_id in hard else 0.9)
        choice = choice_true if right else rng.choice([c for c in CHOICES if c != choice_true])
        strength = (strength_true or 2) if choice in ("A", "B") else None
        with transaction.atomic():
            item_adjudicate(
                item=Item(pk=item_id), actor=staff, decision={"choice": choice, "strength": strength}
            )
        decided += 1
    return decided


def crowd_settle(project) -> dict[str, int]:
    """Let the settling period pass: post the adjustments of revised items, then settle every
    held share as the periodic tasks would a settling period after the run."""
    import datetime as dt

    from django.utils import timezone

    from rewards.holdbacks import holdbacks_settle, reward_adjustments_post
    from rewards.models import RewardPolicy

    policy = RewardPolicy.objects.filter(project=project).order_by("-version").first()
    if policy is None or policy.kind != RewardPolicy.Kind.INFORMATION:
        return {}
    reward_adjustments_post(limit=100_000)
    later = timezone.now() + dt.timedelta(seconds=policy.settle_seconds + 3600)
    totals = {"release": 0, "forfeit": 0, "wait": 0}
    after = 0
    while True:
        counts = holdbacks_settle(now=later, limit=1000, after_id=after, project_id=project.pk)
        for key in totals:
            totals[key] += counts[key]
        if counts["resume_after"] is None:
            return totals
        after = counts["resume_after"]
