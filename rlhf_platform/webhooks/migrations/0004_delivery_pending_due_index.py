# The sweep's read (pending deliveries that are due) by a partial index, not a scan of them all.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_delivery_queued_at"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["next_attempt_at"],
                name="delivery_pending_due",
            ),
        ),
    ]
