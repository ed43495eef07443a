"""A model simulation of the ``information`` reward policy on the adversarial crowd's populations,
without the database: the mechanism's own functions (``rewards.policy_information``) on simulated
labels, so that its figures are seen apart from the pipeline (no suspensions, no group holds).

    python -m bench.crowd_rewards_model [--seeds 1 2 3] [--peer-weight 1] [--right-weight 1] [--prior 5]

Each of 900 items (25% hard) gets 3 labels from accounts drawn at random among the populations of
``bench/crowd_adversarial.py`` (adaptive accounts answer honestly for their first 15 labels, then
at random); the consensus is a vote weighted by each population's accuracy with a group's members
counting once (``--groups-missed``: each member counts). Every label is paid in item order as
the policy does (level multiplier 1.5, base rate 1). Prints per seed the honest non-expert's and
the expert's reward per label, each cheating population's reward per account over an honest
non-expert's, and the experts' right labels against a wrong plurality on hard items paid at least
the base rate.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter, defaultdict
from fractions import Fraction

CHOICES = ("A", "B", "tie", "both_bad")
POPULATIONS = (
    ("expert", 10),
    ("nonexpert", 30),
    ("spammer", 3),
    ("always_a", 3),
    ("adaptive", 3),
    ("ring", 4),
    ("sybil_random", 10),
    ("sybil_copy", 10),
)
GROUPS = ("ring", "sybil_copy", "sybil_random")
CHEATERS = ("spammer", "always_a", "adaptive", "ring", "sybil_random", "sybil_copy")


def simulate(
    seed: int, *, peer_weight: float, right_weight: float, prior: int, window: int, groups: bool, z: Fraction
):
    from rewards.peer_prediction import ca_score, delta_sign_estimate, peer_average
    from rewards.policy_information import right_rate

    rng = random.Random(seed)
    truth = {i: rng.choices(CHOICES, weights=(45, 45, 7, 3))[0] for i in range(900)}
    hard = {i for i in truth if rng.random() < 0.25}
    accounts = []
    for population, count in POPULATIONS:
        for k in range(count):
            account = {"pop": population, "id": f"{population}{k}", "n": 0, "acc": 0.0, "hacc": 0.0}
            if population == "expert":
                account["acc"], account["hacc"] = rng.uniform(0.85, 0.95), 0.85
            elif population == "nonexpert":
                account["acc"], account["hacc"] = rng.uniform(0.65, 0.75), 0.35
            elif population == "adaptive":
                account["acc"] = account["hacc"] = 0.9
            accounts.append(account)
    by_id = {a["id"]: a for a in accounts}

    def group_answer(group: str, i: int) -> str:
        r = random.Random(f"{group}:{i}")  # noqa: S311
        return truth[i] if r.random() < 0.3 else r.choice([c for c in CHOICES if c != truth[i]])

    def answer(account, i: int) -> str:
        population = account["pop"]
        if population == "adaptive" and account["n"] > 15:
            population = "spammer"
        if population in ("expert", "nonexpert", "adaptive"):
            accuracy = account["hacc"] if i in hard else account["acc"]
            return truth[i] if rng.random() < accuracy else rng.choice([c for c in CHOICES if c != truth[i]])
        if population == "always_a":
            return rng.choice("AB")  # "A" on the screen, either response
        if population in ("ring", "sybil_copy"):
            return group_answer(population, i)
        return rng.choice(CHOICES)

    labels: dict[int, dict[str, str]] = defaultdict(dict)
    order = []
    for i in truth:
        for account in rng.sample(accounts, 3):
            labels[i][account["id"]] = answer(account, i)
            account["n"] += 1
            order.append((i, account["id"]))

    def weight(account) -> float:
        accuracy = {"expert": 0.88, "nonexpert": 0.62, "adaptive": 0.5}.get(account["pop"], 0.28)
        return math.log(accuracy * 3 / (1 - accuracy))

    consensus = {}
    for i, answers in labels.items():
        votes, counted = Counter(), set()
        for account_id, choice in answers.items():
            population = by_id[account_id]["pop"]
            if groups and population in GROUPS:
                if population in counted:
                    continue
                counted.add(population)
            votes[choice] += weight(by_id[account_id])
        consensus[i] = votes.most_common(1)[0][0]

    sign = delta_sign_estimate([list(answers.values()) for answers in labels.values()])
    counts = Counter(consensus.values())
    reference = {c: Fraction(n, len(consensus)) for c, n in counts.items()}
    mine = defaultdict(list)
    for i, account_id in order:
        mine[account_id].append((i, labels[i][account_id]))
    pay, count = defaultdict(float), Counter()
    scores, known = defaultdict(list), defaultdict(list)
    minority = [0, 0]
    for i, account_id in order:
        account, choice = by_id[account_id], labels[i][account_id]
        peers = [
            (b, labels[i][b], mine[b])
            for b in labels[i]
            if b != account_id
            and not (groups and by_id[b]["pop"] == account["pop"] and account["pop"] in GROUPS)
        ]
        score, _ = ca_score(
            item_id=i,
            choice=choice,
            peers=peers,
            mine=mine[account_id],
            sign=sign,
            rng=random.Random(f"{account_id}{i}"),  # noqa: S311
        )
        if score is not None:
            scores[account_id].append(score)
        recent = scores[account_id][-window:]
        p = peer_average(recent, prior, z)
        right = choice == consensus[i]
        known[account_id].append((choice, right))
        rate = right_rate(window=known[account_id][-window:], reference=reference, prior=prior, z=z)
        r = min(Fraction(rate["per_right"]), Fraction(1)) if right else Fraction(0)
        amount = 1.5 * (peer_weight * float(p) + right_weight * float(r))
        pay[account_id] += amount
        count[account_id] += 1
        if account["pop"] == "expert" and i in hard and choice == truth[i]:
            top = Counter(labels[i].values()).most_common()
            if top[0][0] != truth[i] and (len(top) == 1 or top[0][1] > top[1][1]):
                minority[1] += 1
                minority[0] += amount >= 1
    per_account, per_label = defaultdict(list), defaultdict(lambda: [0.0, 0])
    for account in accounts:
        per_account[account["pop"]].append(pay[account["id"]])
        per_label[account["pop"]][0] += pay[account["id"]]
        per_label[account["pop"]][1] += count[account["id"]]
    mean = {p: sum(v) / len(v) for p, v in per_account.items()}
    return {
        "reward_per_label_nonexpert": round(per_label["nonexpert"][0] / per_label["nonexpert"][1], 3),
        "reward_per_label_expert": round(per_label["expert"][0] / per_label["expert"][1], 3),
        "cheater_share_of_nonexpert": {p: round(mean[p] / mean["nonexpert"], 3) for p in CHEATERS},
        "expert_minority_paid": f"{minority[0]}/{minority[1]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--peer-weight", type=float, default=1.0)
    parser.add_argument("--right-weight", type=float, default=1.0)
    parser.add_argument("--prior", type=int, default=5)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--groups-missed", action="store_true")
    parser.add_argument(
        "--evidence-z", type=float, default=2.0, help="the evidence gate's z (0: unconditional clipping)"
    )
    args = parser.parse_args()
    from bench._harness import setup_django

    setup_django()
    for seed in args.seeds:
        figures = simulate(
            seed,
            peer_weight=args.peer_weight,
            right_weight=args.right_weight,
            prior=args.prior,
            window=args.window,
            groups=not args.groups_missed,
            z=Fraction(args.evidence_z).limit_denominator(100),
        )
        print(f"seed={seed} " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
