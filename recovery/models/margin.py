"""Margin-market impact: one account's valuation at the rollback and reference blocks, and its
liquidations in between (issue 16, part 3).

Net values, PnL and funding are signed (an account can be under water), so they use
``Int256Field``; collateral and debt are unsigned. All in the market's base units: USD values
with 6 decimals, asset amounts with the asset's decimals, prices with the feed's 8 decimals.
"""

from django.db import models

from recovery.fields import Int256Field, Uint256Field
from recovery.models.core import ImpactAnalysis

__all__ = ["MarginAccountImpact", "MarginLiquidation"]


class MarginAccountImpact(models.Model):
    """An account of a margin market valued at the rollback block (rollback price) and at the
    reference block (reference price); ``lost_net_value`` = rollback - reference net value."""

    # Written only by the impact service in the transaction that completes the analysis, like
    # AccountImpact: no database-level foreign key.
    analysis = models.ForeignKey(
        ImpactAnalysis, on_delete=models.CASCADE, related_name="margin_accounts", db_constraint=False, db_index=False
    )
    market = models.CharField(max_length=42, help_text="EIP-55 address of the margin market")
    account = models.CharField(max_length=42)
    net_value_before = Int256Field(help_text="netValue at the rollback block, USD 6 dec")
    net_value_after = Int256Field(help_text="netValue at the reference block, USD 6 dec (0 when liquidated)")
    lost_net_value = Int256Field(help_text="net_value_before - net_value_after, USD 6 dec")
    health_factor_before = Uint256Field(help_text="healthFactor at the rollback block, 1e18 scale")
    health_factor_after = Uint256Field(default=0, help_text="healthFactor at the reference block, 1e18 scale")
    pnl_before = Int256Field(help_text="Unrealised PnL minus funding owed at the rollback block, USD 6 dec")
    collateral_before = Uint256Field(help_text="Asset base units")
    debt_before = Uint256Field(help_text="Credit base units (USD 6 dec)")
    liquidated = models.BooleanField(default=False, help_text="Liquidated between the rollback and reference blocks")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["analysis", "market", "account"], name="one_margin_row_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.account} on {self.market}: {self.net_value_before} -> {self.net_value_after}"


class MarginLiquidation(models.Model):
    """A Liquidated event between the rollback and reference blocks and what it cost the account.

    ``penalty`` = seized_collateral valued at the liquidation price (truncated) - debt_repaid,
    USD 6 dec; ``unfair_firing`` is the monitoring firing of an oracle rule covering its block."""

    analysis = models.ForeignKey(
        ImpactAnalysis,
        on_delete=models.CASCADE,
        related_name="margin_liquidations",
        db_constraint=False,
        db_index=False,
    )
    market = models.CharField(max_length=42)
    account = models.CharField(max_length=42)
    liquidator = models.CharField(max_length=42)
    block = models.PositiveBigIntegerField()
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    price = Uint256Field(help_text="Feed price at liquidation, 8 dec")
    seized_collateral = Uint256Field(help_text="Asset base units the liquidator received")
    debt_repaid = Uint256Field(help_text="Credit base units burned")
    closed_size = Int256Field()
    realized_pnl = Int256Field(help_text="pnl - funding of the closed position, USD 6 dec")
    penalty = Int256Field(help_text="seized collateral value at the liquidation price - debt repaid, USD 6 dec")
    unfair_firing = models.ForeignKey(
        "monitoring.Firing", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["analysis", "tx_hash", "log_index"], name="one_margin_liquidation_per_log")
        ]
        ordering = ["block", "log_index"]

    def __str__(self) -> str:
        return f"{self.account} liquidated at block {self.block}"
