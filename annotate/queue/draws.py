"""The queue's random draws: the order responses are shown in, whether a claim draws gold, and
which of the least exposed gold items. All of them use one generator, ``annotate.queue._random``
(a ``SystemRandom``), read at each draw, so that a benchmark or a test can replace it there."""

from __future__ import annotations

import random
import sys
from typing import Any


def generator() -> random.Random:
    return sys.modules[__package__]._random


def gold_drawn(project: Any) -> bool:
    """Whether this claim in ``project`` offers a gold item (at the project's gold rate)."""
    return bool(project.gold_rate) and generator().random() < project.gold_rate


def shuffled_order(count: int) -> list[int]:
    order = list(range(count))
    generator().shuffle(order)
    return order


def choice(values: list) -> Any:
    return generator().choice(values)
