from django.conf import settings
from django.core.checks import Warning, register


@register()
def development_defaults_check(app_configs, **kwargs):
    """Say loudly when the platform runs on its embedded development defaults."""
    if not settings.USING_DEV_DEFAULTS:
        return []
    return [
        Warning(
            "Running with development defaults (DEBUG on, development SECRET_KEY).",
            hint="Set DEBUG=0, SECRET_KEY and ALLOWED_HOSTS for production.",
            id="rlhf_platform.W001",
        )
    ]
