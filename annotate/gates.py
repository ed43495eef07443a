"""Who may receive work from a project: the seams later apps plug their conditions into.

The queue asks every registered gate before leasing an item. A gate returns ``None`` to let
the expert through, or a short reason code (``not_qualified``, ``qualification_unavailable``,
``suspended_in_project``, ``budget_exhausted``) that the queue reports, with the sentence
registered for it (``messages``). The quality app registers qualification and
per-project suspension; the rewards app registers the budget check (``annotate`` never imports
``rewards``: rewards registers itself from its ``AppConfig.ready``).

A gate's verdict is a read before the lease. A gate that must hold at the instant of the lease
(the budget, near its end) also registers a ``lease_guard``: the queue takes the lease inside
the guard, so the guard can lock what it counts and decide in the lease's own transaction.

A gate registered ``per_project`` decides from the project alone, whoever asks (the budget): a
transport may read it once per project for all its experts, as the queue's fast path does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from annotate.models import Project
from rlhf_platform.experts.models import ExpertProfile

Gate = Callable[["ExpertProfile | None", Project], "str | None"]
# None when the lease needs no guard now; otherwise a context manager that yields a reason
# code (refused) or None (lease inside it), and closes after the lease is written.
LeaseGuard = Callable[["ExpertProfile | None", Project], "AbstractContextManager[str | None] | None"]

_gates: dict[str, Gate] = {}
_messages: dict[str, str] = {}
_recheck_sql: dict[str, str] = {}
_lease_guards: dict[str, LeaseGuard] = {}
_per_project: set[str] = set()
_shared_reads: ContextVar[dict[Any, Any] | None] = ContextVar("gate_shared_reads", default=None)


def gate_register(
    name: str,
    gate: Gate,
    *,
    messages: dict[str, str] | None = None,
    recheck_sql: str | None = None,
    lease_guard: LeaseGuard | None = None,
    per_project: bool = False,
) -> None:
    """Add a gate; ``messages`` maps the reason codes it returns to a sentence for the expert.

    ``recheck_sql``, for a gate whose refusal must take effect at once: a SQL condition, true
    when the gate lets the expert through, over the parameters ``%(expert)s`` and
    ``%(project)s``. The queue's fast path (annotate/queue/fast_path.py) remembers the gates' verdict
    for a second and re-checks these conditions in the very statement that leases the item.

    ``lease_guard``, for a gate that must decide at the instant of the lease (see the module's
    docstring). While a guard is needed the fast path remembers nothing and hands the request
    to Django's path, which leases inside the guard.

    ``per_project``: the gate and its guard never look at the expert (they are called with
    ``expert=None`` when read for the project alone)."""
    _gates[name] = gate
    _messages.update(messages or {})
    if recheck_sql:
        _recheck_sql[name] = recheck_sql
    if lease_guard:
        _lease_guards[name] = lease_guard
    if per_project:
        _per_project.add(name)
    else:
        _per_project.discard(name)


def _in_scope(name: str, per_project: bool | None) -> bool:
    return per_project is None or (name in _per_project) is per_project


def gate_lease_guards(
    *, expert: ExpertProfile | None, project: Project, per_project: bool | None = None
) -> list[AbstractContextManager[str | None]]:
    """The guards the next lease in ``project`` needs now (none, usually). ``per_project``:
    True for the guards of the gates registered per project only, False for the others only,
    None for all."""
    guards = (guard(expert, project) for name, guard in _lease_guards.items() if _in_scope(name, per_project))
    return [guard for guard in guards if guard is not None]


@contextmanager
def gate_lease(*, expert: ExpertProfile, project: Project) -> Iterator[str | None]:
    """Enter every guard the lease needs; yields the first refusal's reason, or None (lease
    now, inside the ``with``)."""
    guards = gate_lease_guards(expert=expert, project=project)
    if not guards:
        yield None
        return
    with ExitStack() as stack:
        for guard in guards:
            reason = stack.enter_context(guard)
            if reason:
                yield reason
                return
        yield None


def gate_recheck_sql() -> list[str]:
    return list(_recheck_sql.values())


def gate_message(reason: str) -> str:
    return _messages.get(reason) or reason.replace("_", " ").capitalize() + "."


def gate_unregister(name: str) -> None:
    _gates.pop(name, None)
    _per_project.discard(name)
    _recheck_sql.pop(name, None)
    _lease_guards.pop(name, None)


def gate_reason(
    *,
    expert: ExpertProfile | None,
    project: Project,
    rechecked_at_lease: bool = False,
    per_project: bool | None = None,
) -> str | None:
    """The first registered gate's refusal, or None. With ``rechecked_at_lease`` the gates
    that registered a ``recheck_sql`` are left out: the caller leases in a statement that
    evaluates those conditions itself (the queue's fast path), so reading them here too would
    only repeat the read. ``per_project`` as for :func:`gate_lease_guards`."""
    for name, gate in _gates.items():
        if (rechecked_at_lease and name in _recheck_sql) or not _in_scope(name, per_project):
            continue
        reason = gate(expert, project)
        if reason:
            return reason
    return None


@contextmanager
def gate_reads_shared() -> Iterator[None]:
    """One eligibility decision: within the block a gate and its lease guard that read the same
    thing (the budget's zone) read it once (:func:`gate_shared_reads`). The reads are
    milliseconds apart, so sharing them changes no verdict."""
    token = _shared_reads.set({})
    try:
        yield
    finally:
        _shared_reads.reset(token)


def gate_shared_reads() -> dict[Any, Any] | None:
    """The current decision's shared reads (keyed by the gate), or None outside
    :func:`gate_reads_shared`."""
    return _shared_reads.get()
