"""The evidence gate of policies of kind ``information``: a window's peer and right terms are
paid only when they show information at a z of ``evidence_z_hundredths`` / 100.

Versions written before the gate keep paying as they did: the column is added with 0 for the
existing rows (no gate), and new versions default to 200 (z = 2.00)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0007_reward_due"),
    ]

    operations = [
        migrations.AddField(
            model_name="rewardpolicy",
            name="evidence_z_hundredths",
            field=models.PositiveIntegerField(
                default=0,
                help_text="A window's evidence of information must reach this z (hundredths: 200 is 2.00) "
                "to be paid.",
            ),
        ),
        migrations.AlterField(
            model_name="rewardpolicy",
            name="evidence_z_hundredths",
            field=models.PositiveIntegerField(
                default=200,
                help_text="A window's evidence of information must reach this z (hundredths: 200 is 2.00) "
                "to be paid.",
            ),
        ),
    ]
