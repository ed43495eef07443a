from django.apps import AppConfig

# The quality step's registration on the queue's label_submitted hook (annotate/queue/hooks.py).
QUALITY_LABEL_HOOK = "annotate.quality.labels_quality_nudge"


def quality_on_label_submitted(sender, **kwargs) -> None:
    """A label was stored and committed: make sure a quality drain will run (one message per
    burst of submits, annotate/quality/tasks.py)."""
    from annotate.quality.tasks import labels_quality_nudge

    labels_quality_nudge()


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from annotate.gates import gate_register
        from annotate.quality import tasks as _quality_tasks  # noqa: F401 - registers the Celery tasks
        from annotate.quality.suspension import (
            GATE_NAME,
            SUSPENDED_IN_PROJECT_RECHECK_SQL,
            suspended_in_project_gate,
        )
        from annotate.queue.hooks import label_submitted

        gate_register(
            GATE_NAME,
            suspended_in_project_gate,
            messages={GATE_NAME: "You are suspended from this project; you may appeal."},
            recheck_sql=SUSPENDED_IN_PROJECT_RECHECK_SQL,
        )
        # The queue announces each stored label; the quality step listens (the queue never
        # imports the quality app).
        label_submitted.connect(quality_on_label_submitted, dispatch_uid=QUALITY_LABEL_HOOK)
