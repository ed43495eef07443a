"""Queue throughput: concurrent simulated experts doing next + submit over real HTTP.

    python bench/queue.py [--base-url URL] [--concurrency 16] [--items 10000] [--pairs 150]
                          [--rate PAIRS_PER_S] [--policy] [--webhooks] [--fresh]

Sets up its own project, items (k = 3) and experts with approved credentials in the database
named by DATABASE_URL (PostgreSQL ``rlhf_bench`` by default); items are written with
``generate_series`` so that a million take seconds. Without ``--base-url`` it starts uvicorn
itself (``--workers``, 2 by default). Each simulated expert logs in, then loops next + submit
``--pairs`` times (or until the queue is empty): as fast as the server answers, or, with
``--rate``, on a fixed schedule that offers that many pairs a second in all (each expert starts
a pair every concurrency/rate seconds; one that falls behind starts the next at once). Prints
name=value lines; duplicates and overfilled items are counted from the database afterwards,
and so is the quality lag (from a label's submit to its after-submit quality step). With
``--policy`` the project pays (a reward policy, a funded budget): it also waits for, and
reports, the rewards the worker posts for the labels of final items, and their lag (from the
item's finalisation to the reward's ledger transaction). With ``--webhooks`` the
lab has a webhook endpoint on loopback (a receiver in this process) for every event: it waits
for the deliveries and reports their lag (event to delivered, from the delivery rows), the
attempts that reached the receiver and how many deliveries arrived more than once.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file (queue.py) would
# shadow the standard library's ``queue`` that psycopg and others import. Put the repository
# root there instead.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from http.cookies import SimpleCookie  # noqa: E402

from bench._harness import services, setup_django  # noqa: E402

PASSWORD = "bench-password-123"  # noqa: S105


def setup(items: int, experts: int, *, policy: bool = False) -> tuple[str, list[str]]:
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from annotate.models import Item, Slot
    from annotate.schema import DEFAULT_SCHEMA
    from annotate.services import project_create
    from rlhf_platform.accounts.models import User
    from rlhf_platform.accounts.services import lab_create
    from rlhf_platform.experts.models import Credential, Domain, ExpertProfile

    run = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"queue-owner-{run}@bench.local", password=None)
    lab = lab_create(name=f"Queue bench {run}", slug=f"queue-{run}", owner=owner)
    domain, _ = Domain.objects.get_or_create(path="bench", defaults={"slug": "bench", "name": "Bench"})
    project = project_create(
        lab=lab,
        name="queue bench",
        domain=domain,
        label_schema=DEFAULT_SCHEMA,
        status="active",
        gold_rate=0.0,
        overlap=3,
    )
    if policy:
        # A paying project: every label of a final item is rewarded from a funded lab budget
        # (the ledger posting runs in the worker; the budget gate runs on every next).
        from rewards.credits import budget_credit, budget_credit_approve
        from rewards.services import reward_policy_create

        token = 10**18
        reward_policy_create(
            project=project,
            base_rate=token,
            level_multipliers_bp={"1": 10_000, "2": 12_500, "3": 15_000, "4": 20_000},
        )
        # Two admins: a credit this large waits for a second one's approval (four eyes).
        admins = [
            User.objects.create_user(
                email=f"queue-admin-{n}-{run}@bench.local", password=None, is_staff=True, staff_role="admin"
            )
            for n in (1, 2)
        ]
        credit, _ = budget_credit(lab=lab, amount=token * 100 * items, actor=admins[0], memo="queue bench")
        if credit.status == "pending_approval":
            budget_credit_approve(credit=credit, actor=admins[1])
    from annotate.models import Batch

    batch = Batch.objects.create(
        project=project, request_sha256="bench", content_type="ndjson", status="ingested"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Item._meta.db_table}
                (uid, project_id, batch_id, external_id, prompt, responses, metadata, is_gold, state,
                 priority, created_at)
            SELECT gen_random_uuid(), %s, %s, 'q-' || g, '"Which answer is better?"',
                   '[{{"id": "a", "model": "x", "text": "First answer."}},
                     {{"id": "b", "model": "y", "text": "Second answer."}}]', '{{}}', false, 'open', 0, now()
            FROM generate_series(1, %s) AS g
            """,
            [project.pk, batch.pk, items],
        )
        cursor.execute(
            f"""
            INSERT INTO {Slot._meta.db_table} (item_id, project_id, idx, state, priority)
            SELECT i.id, i.project_id, g.idx, CASE WHEN g.idx = 0 THEN 'open' ELSE 'waiting' END, 0
            FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, 2) AS g(idx)
            WHERE i.batch_id = %s
            """,
            [batch.pk],
        )
        cursor.execute(f"ANALYZE {Item._meta.db_table}")
        cursor.execute(f"ANALYZE {Slot._meta.db_table}")
    password = make_password(PASSWORD)
    emails = []
    for n in range(experts):
        email = f"queue-{run}-{n}@bench.local"
        user = User.objects.create(email=email, password=password)
        profile = ExpertProfile.objects.create(user=user)
        Credential.objects.create(
            expert=profile,
            domain=domain,
            kind="degree",
            title="PhD",
            issuer="Bench",
            status="approved",
            level=3,
            issued_on="2020-01-01",
        )
        emails.append(email)
    return str(project.pk), emails


class Expert(threading.Thread):
    def __init__(
        self, host: str, email: str, project_id: str, pairs: int, deadline: float, interval: float = 0.0
    ) -> None:
        super().__init__(daemon=True)
        self.host, self.email, self.project_id, self.pairs, self.deadline = (
            host,
            email,
            project_id,
            pairs,
            deadline,
        )
        self.interval = interval  # seconds between the starts of two pairs; 0: back to back
        self.next_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.done = 0
        self.server_errors = 0
        self.other_errors: list[str] = []

    def _request(self, conn, method, path, body=None, headers=None):
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response, data

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, timeout=60)
        response, _ = self._request(
            conn,
            "POST",
            "/api/v1/auth/login",
            {"email": self.email, "password": PASSWORD},
            {"Content-Type": "application/json"},
        )
        cookies = SimpleCookie()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                cookies.load(value)
        headers = {
            "Content-Type": "application/json",
            "Cookie": "; ".join(f"{k}={v.value}" for k, v in cookies.items()),
            "X-CSRFToken": cookies["csrftoken"].value,
        }
        # Experts start at evenly spread moments of the first interval, not all at once.
        scheduled = time.monotonic() + random.random() * self.interval
        while self.done < self.pairs and time.monotonic() < self.deadline:
            if self.interval:
                delay = scheduled - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                scheduled += self.interval
            started = time.perf_counter()
            response, data = self._request(
                conn, "POST", "/api/v1/queue/next", {"project": self.project_id}, headers
            )
            self.next_ms.append((time.perf_counter() - started) * 1000)
            if response.status == 204:
                break
            if response.status >= 500:
                self.server_errors += 1
                continue
            if response.status != 200:
                self.other_errors.append(f"next {response.status} {data[:200]!r}")
                break
            assignment = json.loads(data)
            started = time.perf_counter()
            response, data = self._request(
                conn,
                "POST",
                f"/api/v1/assignments/{assignment['id']}/submit",
                {"client_id": str(uuid.uuid4()), "choice": "A", "strength": 2, "active_seconds": 12.5},
                headers,
            )
            self.submit_ms.append((time.perf_counter() - started) * 1000)
            if response.status >= 500:
                self.server_errors += 1
            elif response.status != 201:
                self.other_errors.append(f"submit {response.status} {data[:200]!r}")
            else:
                self.done += 1


def _quality_backlog(project_id: str) -> int:
    from annotate.models import Label

    return Label.objects.filter(project_id=project_id, quality_at__isnull=True).count()


def _rewards(project_id: str) -> tuple[int, int]:
    """Rewards posted, and labels of final items that are due one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM rewards_ledgertransaction WHERE project_id = %s AND kind = 'reward'",
            [project_id],
        )
        posted = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM annotate_label l JOIN annotate_item i ON i.id = l.item_id "
            "WHERE l.project_id = %s AND i.state = 'final' AND NOT l.is_gold "
            "AND NOT l.excluded_from_consensus",
            [project_id],
        )
        return posted, cursor.fetchone()[0]


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1 that answers 200 and keeps (delivery id, attempt)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receipts = self.receipts = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the standard library's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receipts.append((self.headers.get("X-Rlhf-Delivery"), self.headers.get("X-Rlhf-Attempt")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _webhooks_register(project_id: str, url: str) -> str:
    from annotate.models import Project
    from rlhf_platform.webhooks.models import EVENTS
    from rlhf_platform.webhooks.services import webhook_endpoint_create

    lab = Project.objects.get(pk=project_id).lab
    endpoint, _secret = webhook_endpoint_create(lab=lab, url=url, events=list(EVENTS))
    return str(endpoint.pk)


def _webhooks_pending(endpoint_id: str) -> int:
    from rlhf_platform.webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status="pending").count()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=150, help="next+submit pairs per expert")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="server processes (rlhf_platform.serve) when the bench starts the server",
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="upper bound on the run")
    parser.add_argument(
        "--policy",
        action="store_true",
        help="a reward policy and a funded budget: every label of a final item is paid",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="a webhook endpoint on loopback for every event; reports the delivery lag",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pairs a second offered by all experts together (default: as fast as answered)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="drop and recreate the database first, so that runs start from the same empty tables",
    )
    args = parser.parse_args()

    setup_django(fresh=args.fresh)
    project_id, emails = setup(args.items, args.concurrency, policy=args.policy)
    receiver = endpoint_id = None
    if args.webhooks:
        import os

        os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "1"  # the receiver is on loopback
        receiver = WebhookReceiver()
        endpoint_id = _webhooks_register(project_id, receiver.url)
    with services(args.base_url, workers=args.workers) as (base_url, _server, _worker):
        host = base_url.split("://", 1)[1]
        deadline = time.monotonic() + args.seconds
        interval = args.concurrency / args.rate if args.rate else 0.0
        experts = [Expert(host, email, project_id, args.pairs, deadline, interval) for email in emails]
        started = time.perf_counter()
        for expert in experts:
            expert.start()
        for expert in experts:
            expert.join()
        elapsed = time.perf_counter() - started
        # The after-submit quality step runs in the Celery worker (inline when REDIS_URL is
        # unset): how far behind the labels it is when the experts stop, and how long it takes
        # to catch up.
        backlog = _quality_backlog(project_id)
        drain_started = time.perf_counter()
        while _quality_backlog(project_id) and time.perf_counter() - drain_started < args.seconds:
            time.sleep(0.5)
        drain_seconds = time.perf_counter() - drain_started
        backlog_left = _quality_backlog(project_id)
        rewards_posted = rewards_due = 0
        rewards_started = time.perf_counter()
        if args.policy:
            # The rewards of final items are posted by the worker after the quality step.
            while time.perf_counter() - drain_started < args.seconds:
                rewards_posted, rewards_due = _rewards(project_id)
                if rewards_posted >= rewards_due:
                    break
                time.sleep(0.5)
        rewards_catch_up = time.perf_counter() - rewards_started
        webhooks_started = time.perf_counter()
        if endpoint_id:
            while _webhooks_pending(endpoint_id) and time.perf_counter() - webhooks_started < args.seconds:
                time.sleep(0.5)
        webhooks_catch_up = time.perf_counter() - webhooks_started

    from django.db import connection

    from rlhf_platform.core.checks import postgresql_setting

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT item_id, expert_id FROM annotate_label WHERE project_id = %s "
            "GROUP BY item_id, expert_id HAVING count(*) > 1) AS d",
            [project_id],
        )
        duplicates = cursor.fetchone()[0]
        # More labels than the item has slots (k, plus those adaptive overlap added).
        cursor.execute(
            "SELECT count(*) FROM (SELECT item_id, count(*) AS n FROM annotate_label"
            " WHERE project_id = %s AND NOT is_gold GROUP BY item_id) AS l"
            " JOIN (SELECT item_id, count(*) AS s FROM annotate_slot"
            " WHERE project_id = %s GROUP BY item_id) AS k"
            " USING (item_id) WHERE l.n > k.s",
            [project_id, project_id],
        )
        overfilled = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM annotate_label WHERE project_id = %s", [project_id])
        labels = cursor.fetchone()[0]
        cursor.execute(
            "SELECT extract(epoch FROM quality_at - created_at) * 1000 FROM annotate_label "
            "WHERE project_id = %s AND quality_at IS NOT NULL",
            [project_id],
        )
        quality_lag_ms = [float(row[0]) for row in cursor.fetchall()]
        # From the item's finalisation to its label's reward (the ledger transaction's time).
        reward_lag_ms: list[float] = []
        if args.policy:
            cursor.execute(
                "SELECT extract(epoch FROM t.created_at - i.finalized_at) * 1000"
                " FROM rewards_ledgertransaction t JOIN annotate_label l ON l.id = t.label_id"
                " JOIN annotate_item i ON i.id = l.item_id WHERE t.project_id = %s AND t.kind = 'reward'",
                [project_id],
            )
            reward_lag_ms = [float(row[0]) for row in cursor.fetchall()]
        webhook_lag_ms: list[float] = []
        webhook_counts = (0, 0)
        if endpoint_id:
            cursor.execute(
                "SELECT extract(epoch FROM delivered_at - created_at) * 1000 FROM webhooks_webhookdelivery"
                " WHERE endpoint_id = %s AND delivered_at IS NOT NULL",
                [endpoint_id],
            )
            webhook_lag_ms = [float(row[0]) for row in cursor.fetchall()]
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'pending')"
                " FROM webhooks_webhookdelivery WHERE endpoint_id = %s",
                [endpoint_id],
            )
            webhook_counts = cursor.fetchone()
        # The server's upkeep, which the late part of a long run depends on: whether autovacuum
        # runs, and the dead share of the queue's tables at the end (all projects of the database).
        autovacuum = postgresql_setting(connection, "autovacuum")
        cursor.execute(
            "SELECT sum(n_dead_tup)::float / greatest(sum(n_dead_tup + n_live_tup), 1)"
            " FROM pg_stat_user_tables WHERE relname IN"
            " ('annotate_slot', 'annotate_assignment', 'annotate_item', 'annotate_label')"
        )
        dead_share = cursor.fetchone()[0] or 0.0

    pairs = sum(e.done for e in experts)
    next_ms = [v for e in experts for v in e.next_ms]
    submit_ms = [v for e in experts for v in e.submit_ms]
    errors = [err for e in experts for err in e.other_errors]
    print(f"queue_items={args.items}")
    print(f"queue_concurrency={args.concurrency}")
    print(f"queue_pairs={pairs}")
    print(f"queue_labels_stored={labels}")
    if args.rate:
        print(f"queue_offered_pairs_per_s={args.rate:.1f}")
    print(f"queue_ops_per_s={pairs / elapsed:.1f}")
    print(f"next_p50_ms={percentile(next_ms, 50):.1f}")
    print(f"next_p99_ms={percentile(next_ms, 99):.1f}")
    print(f"submit_p50_ms={percentile(submit_ms, 50):.1f}")
    print(f"submit_p99_ms={percentile(submit_ms, 99):.1f}")
    print(f"server_errors={sum(e.server_errors for e in experts)}")
    print(f"client_errors={len(errors)}")
    print(f"duplicates={duplicates}")
    print(f"overfilled_items={overfilled}")
    print(f"quality_backlog_at_end={backlog}")
    print(f"quality_catch_up_s={drain_seconds:.1f}")
    print(f"quality_backlog_left={backlog_left}")
    if args.policy:
        print(f"rewards_posted={rewards_posted}")
        print(f"rewards_due={rewards_due}")
        print(f"rewards_catch_up_s={rewards_catch_up:.1f}")
        print(f"reward_lag_p50_ms={percentile(reward_lag_ms, 50):.0f}")
        print(f"reward_lag_p99_ms={percentile(reward_lag_ms, 99):.0f}")
    print(f"quality_lag_p50_ms={percentile(quality_lag_ms, 50):.0f}")
    print(f"quality_lag_p99_ms={percentile(quality_lag_ms, 99):.0f}")
    if receiver is not None:
        receipts = list(receiver.receipts)
        print(f"webhook_deliveries={webhook_counts[0]}")
        print(f"webhook_pending_left={webhook_counts[1]}")
        print(f"webhook_receipts={len(receipts)}")
        print(f"webhook_received_twice={len(receipts) - len({d for d, _attempt in receipts})}")
        print(f"webhook_catch_up_s={webhooks_catch_up:.1f}")
        print(f"webhook_lag_p50_ms={percentile(webhook_lag_ms, 50):.0f}")
        print(f"webhook_lag_p99_ms={percentile(webhook_lag_ms, 99):.0f}")
    print(f"pg_autovacuum={autovacuum}")
    print(f"queue_tables_dead_share={dead_share:.2f}")
    for err in errors[:5]:
        print(f"# {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
