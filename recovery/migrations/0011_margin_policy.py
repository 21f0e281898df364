"""Margin policy (issue 16, part 4): a plan's pro-rata cap and second class; each margin account's
health factor at the reference block."""

from django.db import migrations, models

import recovery.fields


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0010_restore_positions"),
    ]

    operations = [
        migrations.AddField(
            model_name="marginaccountimpact",
            name="health_factor_after",
            field=recovery.fields.Uint256Field(default=0, help_text="healthFactor at the reference block, 1e18 scale"),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="second_class",
            field=models.JSONField(
                default=list, help_text="Pro rata only: accounts paid only from what the first class leaves (EIP-55)"
            ),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="cap_numerator",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="Pro-rata cap: nobody is paid above claim * numerator // denominator",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="recoveryplan",
            name="cap_denominator",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
    ]
