"""The queue's engine and its transports: the engine does not import the quality app (the
``label_submitted`` hook, which quality registers, replaced the import), the hook is sent once
per stored label when its transaction commits, the per-project suspension releases leases
through the engine's public release, and the fast path refuses to run with a middleware or a
throttle it does not apply itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

import annotate.queue
from annotate.apps import QUALITY_LABEL_HOOK
from annotate.models import Assignment
from annotate.queue import assignment_next, assignment_submit, label_submitted
from annotate.queue.fast_path import QueueFastPath
from annotate.queue.fast_path_http import APPLIED_MIDDLEWARE, fast_path_check
from tests.factories import BatchFactory, CredentialFactory, ItemFactory, ProjectFactory

ROOT = Path(__file__).resolve().parents[2]

# Django set up with every AppConfig.ready() left out (so that nothing is imported but the
# settings and the models), then the queue and its fast path imported: which quality modules
# came with them?
_IMPORTS = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "rlhf_platform.settings"
import django
import django.apps.config as config
create = config.AppConfig.create
def create_without_ready(entry):
    app = create(entry)
    app.ready = lambda: None
    return app
config.AppConfig.create = staticmethod(create_without_ready)
django.setup()
def quality():
    return {name for name in sys.modules if name.startswith("annotate.quality")}
before = quality()
import annotate.queue, annotate.queue.fast_path
print(json.dumps({"before": sorted(before), "with_queue": sorted(quality() - before)}))
"""


def test_the_queue_imports_no_quality_module_at_all():
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["before"] == []  # the models alone import no quality module
    assert found["with_queue"] == []  # nor do the engine and its fast path
    assert not hasattr(annotate.queue, "_release")


def _project_with_expert(overlap: int = 2):
    project = ProjectFactory(gold_rate=0, overlap=overlap)
    ItemFactory.create_batch(3, project=project, batch=BatchFactory(project=project))
    return project, CredentialFactory(approved=True, domain=project.domain).expert


@pytest.fixture
def hook_calls():
    calls: list[dict] = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    label_submitted.connect(receiver, dispatch_uid="test-hook-calls")
    yield calls
    label_submitted.disconnect(dispatch_uid="test-hook-calls")


@pytest.mark.django_db(transaction=True)
def test_label_submitted_is_sent_once_per_stored_label_after_its_commit(hook_calls):
    project, expert = _project_with_expert()
    assignment = assignment_next(expert=expert, project=project)
    assert isinstance(assignment, Assignment)
    with transaction.atomic():
        label, created = assignment_submit(
            assignment=assignment, expert=expert, payload={"choice": "tie"}, client_id="c-1"
        )
        assert created and hook_calls == []  # not before the commit
    assert len(hook_calls) == 1
    call = hook_calls[0]
    assert call["label_id"] == label.pk and call["item_id"] == assignment.item_id
    assert call["project_id"] == project.pk and call["expert_id"] == expert.pk and call["is_gold"] is False
    # A retry returns the first label and sends nothing.
    again, created = assignment_submit(
        assignment=assignment, expert=expert, payload={"choice": "tie"}, client_id="c-1"
    )
    assert not created and again.pk == label.pk and len(hook_calls) == 1
    # A submit rolled back with its transaction sends nothing.
    second = assignment_next(expert=expert, project=project)
    with pytest.raises(RuntimeError), transaction.atomic():
        assignment_submit(assignment=second, expert=expert, payload={"choice": "tie"}, client_id="c-2")
        raise RuntimeError("rolled back")
    assert len(hook_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_neither_fails_the_submit_nor_stops_the_others(hook_calls):
    def failing(sender, **kwargs):
        raise ConnectionError("down")

    label_submitted.connect(failing, dispatch_uid="test-failing")
    try:
        project, expert = _project_with_expert()
        assignment = assignment_next(expert=expert, project=project)
        _label, created = assignment_submit(
            assignment=assignment, expert=expert, payload={"choice": "tie"}, client_id="c-1"
        )
    finally:
        label_submitted.disconnect(dispatch_uid="test-failing")
    assert created and len(hook_calls) == 1


def test_the_quality_step_is_registered_on_the_hook():
    assert any(key[0] == QUALITY_LABEL_HOOK for key, _receiver, *_rest in label_submitted.receivers)


def test_the_fast_path_starts_with_the_configured_middleware_and_throttles():
    fast_path_check()
    assert set(settings.MIDDLEWARE) <= set(APPLIED_MIDDLEWARE)
    QueueFastPath(lambda scope, receive, send: None)


def test_the_fast_path_refuses_a_middleware_it_does_not_apply():
    extra = "django.middleware.locale.LocaleMiddleware"
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, extra]):
        with pytest.raises(ImproperlyConfigured, match=extra):
            QueueFastPath(lambda scope, receive, send: None)
        with override_settings(QUEUE_FAST_PATH=False):
            QueueFastPath(lambda scope, receive, send: None)  # off: nothing to refuse


def test_the_fast_path_refuses_a_throttle_it_does_not_apply(monkeypatch):
    rest = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    }
    with (
        override_settings(REST_FRAMEWORK=rest),
        pytest.raises(ImproperlyConfigured, match="UserRateThrottle"),
    ):
        fast_path_check()
    # A throttle on the submit view itself.
    from rest_framework.throttling import AnonRateThrottle

    from annotate.api_queue import AssignmentSubmitApi

    monkeypatch.setattr(AssignmentSubmitApi, "throttle_classes", [AnonRateThrottle])
    with pytest.raises(ImproperlyConfigured, match="AnonRateThrottle"):
        fast_path_check()
