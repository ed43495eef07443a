from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rlhf_platform.accounts"
    label = "accounts"
    verbose_name = "Accounts and labs"

    def ready(self) -> None:
        from rlhf_platform.core import checks, openapi  # noqa: F401  (registers checks, schema extensions)
        from rlhf_platform.core.runtime import cap_recursion_limit

        cap_recursion_limit()
