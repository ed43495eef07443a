"""Fixtures of the quality pipeline's tests."""

from __future__ import annotations

import pytest

from annotate.apps import QUALITY_LABEL_HOOK, quality_on_label_submitted
from annotate.queue import label_submitted


@pytest.fixture
def no_nudges():
    """Submits store labels without starting the quality step: they wait, as they do when the
    worker is busy."""
    label_submitted.disconnect(dispatch_uid=QUALITY_LABEL_HOOK)
    yield
    label_submitted.connect(quality_on_label_submitted, dispatch_uid=QUALITY_LABEL_HOOK)
