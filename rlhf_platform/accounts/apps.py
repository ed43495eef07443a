from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rlhf_platform.accounts"
    label = "accounts"
    verbose_name = "Accounts and labs"

    def ready(self) -> None:
        from rlhf_platform.core import checks, openapi  # noqa: F401  (registers checks, schema extensions)
