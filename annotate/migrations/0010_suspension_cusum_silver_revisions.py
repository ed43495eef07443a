# The suspension test's state on each annotator row, silver grades on labels, and the revisions
# of a consensus delivered final.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0009_label_quality_waiting'),
    ]

    operations = [
        migrations.AddField(
            model_name='annotatorquality',
            name='suspend_events',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='annotatorquality',
            name='suspend_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='annotatorquality',
            name='suspend_statistic',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='itemconsensus',
            name='revisions',
            field=models.JSONField(blank=True, null=True, help_text='Changes to a consensus delivered final: what it was, what it is, when and why.'),
        ),
        migrations.AddField(
            model_name='label',
            name='silver_passed',
            field=models.BooleanField(blank=True, help_text="Silver evidence for the suspension test: when the item became final, whether this label matched the item's very sure consensus without it. None: not silver evidence.", null=True),
        ),
    ]
