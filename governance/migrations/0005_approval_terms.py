# PlanApproved's new terms: the incident key and plan version, the delivery and the claim deadline.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0004_ballots"),
        ("recovery", "0004_plan_delivery"),
    ]

    operations: list = [
        migrations.AddField(
            model_name="planapproval",
            name="incident_key",
            field=models.CharField(default="", help_text="0x-hex: the incident the plan belongs to", max_length=66),
        ),
        migrations.AddField(
            model_name="planapproval",
            name="version",
            field=models.PositiveBigIntegerField(default=0, help_text="The plan's version for its incident"),
        ),
        migrations.AddField(
            model_name="planapproval",
            name="delivery",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="0 push, 1 push with the claimable fallback, 2 pull"
            ),
        ),
        migrations.AddField(
            model_name="planapproval",
            name="claim_deadline",
            field=models.PositiveBigIntegerField(default=0, help_text="Pull: last unix timestamp of a claim; 0"),
        ),
    ]
