from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0003_clawback_reversal_kind"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgertransaction",
            name="kind",
            field=models.CharField(
                choices=[
                    ("budget_credit", "budget credit"),
                    ("reward", "reward for a label"),
                    ("clawback", "clawback of a reward"),
                    ("clawback_reversal", "clawback reversed on appeal"),
                    ("payout_reserve", "payout reserved"),
                    ("payout_settle", "payout settled"),
                    ("payout_return", "payout returned"),
                    ("payout_lost", "payout lost with its chain"),
                ],
                max_length=20,
            ),
        ),
    ]
