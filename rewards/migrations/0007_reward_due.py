# The rewards drain's pending set: one row per final item whose rewards are not yet posted.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0016_label_loo_choice'),
        ('rewards', '0006_information_policy_kind_holdbacks'),
    ]

    operations = [
        migrations.CreateModel(
            name='RewardDue',
            fields=[
                ('item', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='annotate.item')),
                ('due_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
    ]
