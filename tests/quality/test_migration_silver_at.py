"""Migration 0019: grades stored before ``Label.silver_at`` existed were all taken when their item
became final, so that is their time, and the suspension test's replay keeps their order."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories import ItemFactory, LabelFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("annotate", "0018_silver_support")]
AFTER = [("annotate", "0019_silver_at")]


def test_old_grades_take_their_items_finalisation_as_their_time():
    project = ProjectFactory()
    final, open_ = ItemFactory(batch__project=project), ItemFactory(batch__project=project)
    graded, ungraded = LabelFactory(item=final), LabelFactory(item=final)
    pending = LabelFactory(item=open_)
    finalized_at = timezone.now() - dt.timedelta(hours=3)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        apps.get_model("annotate", "Item").objects.filter(pk=final.pk).update(
            state="final", finalized_at=finalized_at
        )
        apps.get_model("annotate", "Label").objects.filter(pk=graded.pk).update(
            silver_passed=True, silver_support=8
        )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        Label = executor.loader.project_state(AFTER).apps.get_model("annotate", "Label")
        at = dict(Label.objects.values_list("pk", "silver_at"))
        assert (at[graded.pk], at[ungraded.pk], at[pending.pk]) == (finalized_at, None, None)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
