# A delivery's message is on the broker at most once at a time: the sweep claims queued_at.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_event_item_consensus_revised"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="queued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
