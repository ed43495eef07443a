"""Migration 0018: grades stored before the support existed keep their meaning (a pass against a
consensus at least 0.95 sure is support 10, a miss support 0), and the suspension statistic moves
from units of 0.1 nat to 0.01 nat, so that a stored test resumes where it stood."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import ItemFactory, LabelFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("annotate", "0017_senior_level_and_reserved_slots")]
AFTER = [("annotate", "0018_silver_support")]


def test_old_grades_map_to_the_support_and_the_statistic_to_hundredths_of_a_nat():
    project = ProjectFactory()
    item = ItemFactory(batch__project=project)
    passed, missed, ungraded = (LabelFactory(item=item) for _ in range(3))
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        Label = apps.get_model("annotate", "Label")
        Label.objects.filter(pk=passed.pk).update(silver_passed=True)
        Label.objects.filter(pk=missed.pk).update(silver_passed=False)
        AnnotatorQuality = apps.get_model("annotate", "AnnotatorQuality")
        row = AnnotatorQuality.objects.create(
            project_id=project.pk, expert_id=passed.expert_id, suspend_statistic=57, suspend_events=9
        )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        apps = executor.loader.project_state(AFTER).apps
        Label = apps.get_model("annotate", "Label")
        supports = dict(Label.objects.values_list("pk", "silver_support"))
        assert (supports[passed.pk], supports[missed.pk], supports[ungraded.pk]) == (10, 0, None)
        AnnotatorQuality = apps.get_model("annotate", "AnnotatorQuality")
        assert AnnotatorQuality.objects.get(pk=row.pk).suspend_statistic == 570
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
