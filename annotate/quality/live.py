"""Telling the staff pages that a project's quality changed, so its charts are drawn again.

The quality step calls :func:`quality_changed_on_commit` whenever it updates annotators' rows
(``reputation.deltas_apply``: after a label's step, a batch, a refresh or a recompute). After
commit, the staff channel (``STAFF_GROUP``) gets ``{"type": "quality.changed", "project": id}``,
at most once per :data:`THROTTLE_SECONDS` per project: a busy project sends a few events a
minute, not one per label. The page (``js/quality_live.js``) fetches its charts again on the
event and once more when the throttle window is over, so a change held back is still shown.
Not kept in any inbox: it is a live update, not a notification.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import transaction

from rlhf_platform.accounts.notifications import STAFF_GROUP, notify_on_commit

logger = logging.getLogger(__name__)

THROTTLE_SECONDS = 5


def _throttle_key(project_id: Any) -> str:
    return f"quality-changed-sent:{project_id}"


def _send(project_id: Any) -> None:
    try:
        if not cache.add(_throttle_key(project_id), 1, timeout=THROTTLE_SECONDS):
            return
    except Exception:  # a cache down must not fail what committed; the event is only a hint
        logger.exception("quality.changed throttle unavailable for project %s", project_id)
    # Outside any transaction here: notify_on_commit sends at once.
    notify_on_commit(STAFF_GROUP, {"type": "quality.changed", "project": str(project_id)}, keep=False)


def quality_changed_on_commit(*, project_id: Any) -> None:
    """Announce, once the current transaction commits, that ``project_id``'s quality changed."""
    transaction.on_commit(lambda: _send(project_id))
