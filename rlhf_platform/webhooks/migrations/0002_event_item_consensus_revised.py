# A new event a lab can subscribe to: item.consensus_revised.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookendpoint',
            name='events',
            field=models.JSONField(default=list, help_text="Subset of ['batch.ingested', 'batch.completed', 'item.finalized', 'item.consensus_revised', 'project.completed']."),
        ),
    ]
