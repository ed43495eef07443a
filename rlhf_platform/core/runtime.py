"""Process-wide settings of the interpreter that the platform's safety depends on.

``py_ecc`` (imported by eth-account and web3) raises the recursion limit to 100,000 when it is
imported, and py-evm to 12,288. A C parser that recurses per level of nesting (the standard
library's ``json``) checks that limit instead of the stack it runs on, so at 100,000 a deep
enough input overflows the C stack and the process dies (SIGSEGV) instead of raising
``RecursionError``. The request guard refuses deep JSON before any parser sees it; this puts
the limit back to a value that a thread's stack can hold, as a second line of defence for
every other recursive path.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["RECURSION_LIMIT", "cap_recursion_limit"]

# Deep enough for Django, DRF, the statistics and a payout's EVM calls; shallow enough that the
# C code that recurses per level stays inside a 2 MiB thread stack.
RECURSION_LIMIT = 3000

# Libraries that raise the limit when imported: imported once here, so that their import can no
# longer undo the cap later in the process's life.
_RAISERS = ("py_ecc", "eth")


def cap_recursion_limit() -> None:
    """Import the libraries that raise the recursion limit, then cap it (cheap when already done)."""
    if sys.getrecursionlimit() == RECURSION_LIMIT:
        return
    for name in _RAISERS:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    sys.setrecursionlimit(RECURSION_LIMIT)
