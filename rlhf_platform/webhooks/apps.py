from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "rlhf_platform.webhooks"
    label = "webhooks"
    verbose_name = "Lab webhooks"
