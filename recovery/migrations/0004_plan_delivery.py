# How a plan's payments reach recipients (push, push with the claimable fallback, pull), its claim
# deadline, and the RecoveryExecutor its batch leaves are bound to.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0003_chain_identity"),
    ]

    operations: list = [
        migrations.AddField(
            model_name="recoveryplan",
            name="delivery",
            field=models.CharField(
                choices=[
                    ("push", "Pushed in batches by the executor"),
                    (
                        "push_fallback",
                        "Pushed, a refused transfer credited for the recipient to claim (restitute only)",
                    ),
                    ("pull", "Claimed by each holder until the claim deadline"),
                ],
                default="push",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="claim_deadline",
            field=models.PositiveBigIntegerField(
                blank=True, help_text="Pull only: the last unix timestamp a claim is accepted", null=True
            ),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="recovery_executor",
            field=models.CharField(
                blank=True,
                help_text="EIP-55 address of the RecoveryExecutor the batch leaves are bound to",
                max_length=42,
            ),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="auto_execute",
            field=models.BooleanField(default=False, help_text="Execution starts by itself once the plan is approved"),
        ),
    ]
