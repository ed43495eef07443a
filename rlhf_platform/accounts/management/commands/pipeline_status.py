"""``manage.py pipeline_status [--check]``: the background work's backlog in a terminal, as
``/staff/pipeline/`` shows it (``rlhf_platform.core.backlog``): per stage how many rows wait,
how long the oldest has waited, its goal and whether it is behind, then the broker's queues.
With ``--check`` it exits 1 when a stage is behind or the broker does not answer, for a cron
job or a service check on a host without HTTP monitoring."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from rlhf_platform.core.backlog import pipeline_backlog


class Command(BaseCommand):
    help = "Print what the background workers still have to do, stage by stage."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="exit 1 when a stage is behind or the broker does not answer"
        )

    def handle(self, *args, check: bool, **options):
        backlog = pipeline_backlog()
        for stage in backlog["stages"]:
            oldest = "-" if stage["oldest_seconds"] is None else f"{stage['oldest_seconds']:.1f} s"
            state = "behind" if stage["behind"] else "keeping up"
            self.stdout.write(
                f"{stage['stage']:<9} waiting {stage['waiting']:>8}  oldest {oldest:>10}  "
                f"goal {stage['goal_seconds']:>5.0f} s  {state}"
            )
        broker = backlog["broker"]
        if broker["mode"] == "eager":
            self.stdout.write("broker    none: tasks run in the web process")
        elif not broker["ok"]:
            self.stdout.write(f"broker    did not answer: {broker['error']}")
        else:
            queues = "  ".join(f"{name} {count}" for name, count in broker["messages"].items())
            self.stdout.write(f"broker    messages waiting: {queues}")
        if check and (backlog["behind"] or broker.get("ok") is False):
            sys.exit(1)
