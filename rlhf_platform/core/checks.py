from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections


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


def postgresql_setting(connection, name: str) -> str | None:
    """A server setting of a PostgreSQL connection (None when it cannot be read)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s)", [name])
            return cursor.fetchone()[0]
    except DatabaseError:
        return None


@register(Tags.database)
def autovacuum_check(app_configs, databases=None, **kwargs):
    """On PostgreSQL, say when autovacuum is off: the queue's tables rewrite rows on every claim
    and submit, and without vacuum their dead rows outgrow the live ones within minutes of
    labelling (run by ``migrate`` and ``check --database``)."""
    warnings = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql" or postgresql_setting(connection, "autovacuum") != "off":
            continue
        warnings.append(
            Warning(
                f"PostgreSQL runs with autovacuum off (database '{alias}'): the queue's tables gather "
                "dead rows on every claim and submit, and claims slow down as they grow.",
                hint="Turn it on (autovacuum = on in postgresql.conf, or ALTER SYSTEM SET autovacuum = on "
                "and reload). The queue's tables carry their own thresholds; see docs/operations.md.",
                id="rlhf_platform.W002",
            )
        )
    return warnings
