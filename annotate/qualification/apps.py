from django.apps import AppConfig


class QualificationConfig(AppConfig):
    name = "annotate.qualification"
    label = "qualification"
    verbose_name = "Qualification exams"

    def ready(self) -> None:
        from annotate.gates import gate_register
        from annotate.qualification.selectors import GATE_MESSAGES, qualification_gate

        gate_register("not_qualified", qualification_gate, messages=GATE_MESSAGES)
