import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0003_payout_run_approval"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OutsideTransfer",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tx_hash", models.CharField(max_length=66)),
                ("block_number", models.BigIntegerField()),
                (
                    "transfers",
                    models.JSONField(
                        help_text="The token's Transfer events from the payer in it: [{receiver, value (string)}]."
                    ),
                ),
                ("reason", models.TextField(help_text="Why this transfer was made outside the platform.")),
                ("acknowledged_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "chain_identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="payouts.chainidentity"
                    ),
                ),
            ],
            options={
                "ordering": ["-acknowledged_at"],
                "constraints": [
                    models.UniqueConstraint(fields=("chain_identity", "tx_hash"), name="outside_transfer_once")
                ],
            },
        ),
    ]
