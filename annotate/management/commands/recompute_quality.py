"""``manage.py recompute_quality --project <id>``: rebuild a project's quality from its labels."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from annotate.quality.services import project_quality_recompute


class Command(BaseCommand):
    help = (
        "Recompute a project's quality from scratch: the Dawid-Skene fit, every gold grade, every item's "
        "consensus and adaptive-overlap decision, every annotator row. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, action="append", help="Project id (repeatable).")
        parser.add_argument(
            "--keep-model",
            action="store_true",
            help="Use the stored Dawid-Skene model instead of fitting it again.",
        )

    def handle(self, *args, **options):
        for project_id in options["project"]:
            if not Project.objects.filter(pk=project_id).exists():
                raise CommandError(f"No project {project_id}.")
            report = project_quality_recompute(project_id=project_id, refit=not options["keep_model"])
            self.stdout.write(json.dumps(report, sort_keys=True))
