from django.apps import AppConfig


class ExpertsConfig(AppConfig):
    name = "rlhf_platform.experts"
    label = "experts"
    verbose_name = "Expert credentialing"
