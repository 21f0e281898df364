"""Margin-market impact rows: per-account valuation and liquidations (issue 16)."""

import django.db.models.deletion
from django.db import migrations, models

import recovery.fields


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_watching_since"),
        ("recovery", "0008_escape_hatch_and_vault_shutdown"),
    ]

    operations = [
        migrations.CreateModel(
            name="MarginAccountImpact",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("market", models.CharField(help_text="EIP-55 address of the margin market", max_length=42)),
                ("account", models.CharField(max_length=42)),
                (
                    "net_value_before",
                    recovery.fields.Int256Field(help_text="netValue at the rollback block, USD 6 dec"),
                ),
                (
                    "net_value_after",
                    recovery.fields.Int256Field(
                        help_text="netValue at the reference block, USD 6 dec (0 when liquidated)"
                    ),
                ),
                (
                    "lost_net_value",
                    recovery.fields.Int256Field(help_text="net_value_before - net_value_after, USD 6 dec"),
                ),
                (
                    "health_factor_before",
                    recovery.fields.Uint256Field(help_text="healthFactor at the rollback block, 1e18 scale"),
                ),
                (
                    "pnl_before",
                    recovery.fields.Int256Field(
                        help_text="Unrealised PnL minus funding owed at the rollback block, USD 6 dec"
                    ),
                ),
                ("collateral_before", recovery.fields.Uint256Field(help_text="Asset base units")),
                ("debt_before", recovery.fields.Uint256Field(help_text="Credit base units (USD 6 dec)")),
                (
                    "liquidated",
                    models.BooleanField(
                        default=False, help_text="Liquidated between the rollback and reference blocks"
                    ),
                ),
                (
                    "analysis",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="margin_accounts",
                        to="recovery.impactanalysis",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("analysis", "market", "account"), name="one_margin_row_per_account")
                ],
            },
        ),
        migrations.CreateModel(
            name="MarginLiquidation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("market", models.CharField(max_length=42)),
                ("account", models.CharField(max_length=42)),
                ("liquidator", models.CharField(max_length=42)),
                ("block", models.PositiveBigIntegerField()),
                ("tx_hash", models.CharField(max_length=66)),
                ("log_index", models.PositiveIntegerField()),
                ("price", recovery.fields.Uint256Field(help_text="Feed price at liquidation, 8 dec")),
                (
                    "seized_collateral",
                    recovery.fields.Uint256Field(help_text="Asset base units the liquidator received"),
                ),
                ("debt_repaid", recovery.fields.Uint256Field(help_text="Credit base units burned")),
                ("closed_size", recovery.fields.Int256Field()),
                (
                    "realized_pnl",
                    recovery.fields.Int256Field(help_text="pnl - funding of the closed position, USD 6 dec"),
                ),
                (
                    "penalty",
                    recovery.fields.Int256Field(
                        help_text="seized collateral value at the liquidation price - debt repaid, USD 6 dec"
                    ),
                ),
                (
                    "analysis",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="margin_liquidations",
                        to="recovery.impactanalysis",
                    ),
                ),
                (
                    "unfair_firing",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="monitoring.firing",
                    ),
                ),
            ],
            options={
                "ordering": ["block", "log_index"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("analysis", "tx_hash", "log_index"), name="one_margin_liquidation_per_log"
                    )
                ],
            },
        ),
    ]
