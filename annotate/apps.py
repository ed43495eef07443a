from django.apps import AppConfig


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

        gate_register(
            GATE_NAME,
            suspended_in_project_gate,
            messages={GATE_NAME: "You are suspended from this project; you may appeal."},
            recheck_sql=SUSPENDED_IN_PROJECT_RECHECK_SQL,
        )
