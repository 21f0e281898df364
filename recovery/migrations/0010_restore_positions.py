"""Restore-positions plans: the mode, the migrated market of a plan asset and each batch's rows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0009_margin_impact"),
    ]

    operations = [
        migrations.AlterField(
            model_name="recoveryplan",
            name="mode",
            field=models.CharField(
                choices=[
                    ("restitute", "Restitute each loss"),
                    ("restore", "Restore each balance at the rollback block"),
                    (
                        "restore_positions",
                        "Restore each margin position at the rollback block on a migrated venue",
                    ),
                ],
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="planasset",
            name="venue",
            field=models.CharField(
                blank=True,
                help_text="Restore positions only: EIP-55 address of the migrated margin market",
                max_length=42,
            ),
        ),
        migrations.AddField(
            model_name="migrationbatch",
            name="positions",
            field=models.JSONField(
                blank=True,
                help_text="Restore positions only: the rows committed, in recipients' order (chain.margin.RestoreRow, "
                "decimal strings)",
                null=True,
            ),
        ),
    ]
