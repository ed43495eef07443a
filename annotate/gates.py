"""Who may receive work from a project: the seams later apps plug their conditions into.

The queue asks every registered gate before leasing an item. A gate returns ``None`` to let
the expert through, or a short reason code (``not_qualified``, ``qualification_unavailable``,
``suspended_in_project``, ``budget_exhausted``) that the queue reports, with the sentence
registered for it (``messages``). The quality app registers qualification and
per-project suspension; the rewards app registers the budget check (``annotate`` never imports
``rewards``: rewards registers itself from its ``AppConfig.ready``).
"""

from __future__ import annotations

from collections.abc import Callable

from annotate.models import Project
from rlhf_platform.experts.models import ExpertProfile

Gate = Callable[[ExpertProfile, Project], "str | None"]

_gates: dict[str, Gate] = {}
_messages: dict[str, str] = {}
_recheck_sql: dict[str, str] = {}


def gate_register(
    name: str, gate: Gate, *, messages: dict[str, str] | None = None, recheck_sql: str | None = None
) -> None:
    """Add a gate; ``messages`` maps the reason codes it returns to a sentence for the expert.

    ``recheck_sql``, for a gate whose refusal must take effect at once: a SQL condition, true
    when the gate lets the expert through, over the parameters ``%(expert)s`` and
    ``%(project)s``. The queue's fast path (annotate.queue_fast) remembers the gates' verdict
    for a second and re-checks these conditions in the very statement that leases the item."""
    _gates[name] = gate
    _messages.update(messages or {})
    if recheck_sql:
        _recheck_sql[name] = recheck_sql


def gate_recheck_sql() -> list[str]:
    return list(_recheck_sql.values())


def gate_message(reason: str) -> str:
    return _messages.get(reason) or reason.replace("_", " ").capitalize() + "."


def gate_unregister(name: str) -> None:
    _gates.pop(name, None)
    _recheck_sql.pop(name, None)


def gate_reason(*, expert: ExpertProfile, project: Project) -> str | None:
    for gate in _gates.values():
        reason = gate(expert, project)
        if reason:
            return reason
    return None
