from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "rewards.payouts"
    label = "payouts"
    verbose_name = "Payouts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rewards.payouts import checks  # noqa: F401  (registers the system check)
