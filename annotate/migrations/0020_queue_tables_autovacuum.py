"""PostgreSQL: autovacuum keeps up with the queue's tables.

Every claim rewrites two slots and inserts an assignment, every submit rewrites a slot and the
assignment and inserts a label, and the quality step rewrites the label and the item: at 160
next + submit pairs a second the four tables gather a few hundred thousand dead row versions a
minute. At the server's defaults autovacuum waits for 20% of a table to be dead (2 million rows
of a 10-million-slot queue), while the claim's partial index walks past the dead entries of
slots that were open. These settings start it at 2% (plus 1,000 rows) and keep the statistics
and the visibility map of the insert-heavy tables current. ``ALTER TABLE ... SET`` takes a lock
that reads and writes do not wait for. Elsewhere (SQLite) it changes nothing.
"""

from django.db import migrations

TABLES = ("annotate_slot", "annotate_assignment", "annotate_item", "annotate_label")
SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    options = ", ".join(f"{name} = {value}" for name, value in SETTINGS.items())
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET ({options})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET ({', '.join(SETTINGS)})")


class Migration(migrations.Migration):
    dependencies = [("annotate", "0019_group_agreement_signal_help")]
    operations = [migrations.RunPython(forwards, backwards)]
