"""The assignment queue: hand each expert the right next item, collect exactly k independent
labels per item, never lose or duplicate one.

Guarantees held by the database, not only this code:
- one assignment per (item, expert), so one label per (item, expert) and no gold item twice;
- one live or submitted assignment per slot, and an ordinary item has k slots: no item ever
  holds more than k live or submitted ordinary assignments;
- the claim of a slot is ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
  experts never wait on each other's rows (on SQLite, writes are serialised instead).

The engine (this package) alone claims, submits and releases; two transports call it: the DRF
views (annotate/api_queue.py) and the ASGI fast path (annotate/queue/fast_path.py, not imported
here). Layout: ``eligibility`` (who may work where), ``claim`` (next), ``submit``, ``release``
(extend, skip, report, expiry), ``answers`` (why nothing was claimed), ``sql`` (PostgreSQL
statements and the plans both transports run), ``output`` (rendering), ``hooks``
(``label_submitted``), ``draws`` (every random draw, from ``_random`` below).
"""

from __future__ import annotations

import random

from annotate.queue.answers import QUEUE_EMPTY, QUEUE_REASONS, NoWork, queue_wait_reason
from annotate.queue.claim import assignment_next, queue_next
from annotate.queue.eligibility import (
    project_block,
    project_open_for_claim,
    project_with_level,
    projects_open_to,
)
from annotate.queue.hooks import label_submitted
from annotate.queue.release import (
    REPORT_REASONS,
    assignment_extend,
    assignment_release,
    assignment_report,
    assignment_skip,
    assignments_expire,
)
from annotate.queue.sql import GOLD_WINDOW
from annotate.queue.submit import access_assignment_for_expert, assignment_submit, label_build

# Every random draw of the queue (the order responses are shown in, whether a claim offers gold,
# which gold item): annotate/queue/draws.py reads it at each draw, so it may be replaced here.
_random: random.Random = random.SystemRandom()

__all__ = [
    "GOLD_WINDOW",
    "QUEUE_EMPTY",
    "QUEUE_REASONS",
    "REPORT_REASONS",
    "NoWork",
    "access_assignment_for_expert",
    "assignment_extend",
    "assignment_next",
    "assignment_release",
    "assignment_report",
    "assignment_skip",
    "assignment_submit",
    "assignments_expire",
    "label_build",
    "label_submitted",
    "project_block",
    "project_open_for_claim",
    "project_with_level",
    "projects_open_to",
    "queue_next",
    "queue_wait_reason",
]
