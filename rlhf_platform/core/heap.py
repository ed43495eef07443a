"""The serving process's heap, set aside from the cyclic garbage collector once it is loaded.

Why: a full collection (generation 2) walks every object the collector tracks. A serving
process holds about 300,000 of them once Django, the apps and their libraries are imported
(functions, classes, modules, their dicts and tuples), nearly all alive until the process ends.
Measured under the queue benchmark (bench/queue.py, 2 cores), a full collection took about
200 ms, and every request of that process waited for it: those pauses made most of the next
p99. Frozen (:func:`gc.freeze`), these objects are never walked again; collections see only
what requests create, and they stay as frequent as before.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver

__all__ = ["heap_freeze"]


def heap_freeze() -> int:
    """Import every view now (the URLconf, which Django otherwise loads at the first request),
    collect what start-up left behind, and freeze every object alive: the number frozen.

    Frozen objects are never collected, so a cycle among them that later becomes garbage stays
    (the rare case of a module-level object dropped at run time); reference counting still
    frees the rest. Call it once, when the process is ready to serve."""
    get_resolver().url_patterns  # noqa: B018 - the property imports the views
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
