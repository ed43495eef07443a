"""The serving process freezes its loaded heap (rlhf_platform/core/heap.py): once the ASGI
application is imported, the URLconf and every view are loaded, and the collector's full passes
no longer walk the objects start-up made. A fresh interpreter, as a server's worker starts."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.server_process import ROOT

_LOAD = """
import gc, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "rlhf_platform.settings"
import rlhf_platform.asgi
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "urlconf": "rlhf_platform.urls" in sys.modules,
}))
"""


def test_the_served_application_loads_its_views_and_freezes_what_start_up_made():
    result = subprocess.run(
        [sys.executable, "-c", _LOAD], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["urlconf"]  # the views come before the freeze, not at the first request
    assert loaded["frozen"] > 100_000  # Django, the apps and their libraries
    # What a full collection still walks: the few objects made after the freeze.
    assert loaded["tracked"] < loaded["frozen"] / 20
