"""Margin impact rows store signed and 256-bit values exactly (issue 16, part 3).

The valuation service (recovery/margin_impact.py) is not written yet; this covers the model.
"""

import pytest

from recovery.fields import INT256_MIN, UINT256_MAX
from recovery.models import ImpactAnalysis, Incident, MarginAccountImpact, MarginLiquidation

pytestmark = pytest.mark.django_db


def _analysis() -> ImpactAnalysis:
    incident = Incident.objects.create(
        title="margin", kind=Incident._meta.get_field("kind").choices[0][0], chain_id=31337
    )
    return ImpactAnalysis.objects.create(incident=incident, rollback_block=10, reference_block=20)


def test_margin_rows_round_trip_signed_values_exactly() -> None:
    analysis = _analysis()
    under_water = -(10**30) - 1
    MarginAccountImpact.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "22" * 20,
        net_value_before=under_water,
        net_value_after=INT256_MIN,
        lost_net_value=under_water - INT256_MIN,
        health_factor_before=UINT256_MAX,
        pnl_before=-7,
        collateral_before=10**24 + 1,
        debt_before=3,
        liquidated=True,
    )
    MarginLiquidation.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "22" * 20,
        liquidator="0x" + "33" * 20,
        block=15,
        tx_hash="0x" + "ab" * 32,
        log_index=2,
        price=80_000_000,
        seized_collateral=10**18 + 1,
        debt_repaid=5,
        closed_size=-(10**20) - 3,
        realized_pnl=-1,
        penalty=-(10**18),
    )
    row = MarginAccountImpact.objects.get(analysis=analysis)
    assert (row.net_value_before, row.net_value_after, row.health_factor_before) == (
        under_water,
        INT256_MIN,
        UINT256_MAX,
    )
    assert row.lost_net_value == under_water - INT256_MIN and row.collateral_before == 10**24 + 1
    liq = analysis.margin_liquidations.get()
    assert (liq.closed_size, liq.seized_collateral, liq.penalty, liq.unfair_firing) == (
        -(10**20) - 3,
        10**18 + 1,
        -(10**18),
        None,
    )
    # Signed order survives SQLite's offset text encoding.
    MarginAccountImpact.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "44" * 20,
        net_value_before=5,
        net_value_after=0,
        lost_net_value=5,
        health_factor_before=0,
        pnl_before=0,
        collateral_before=0,
        debt_before=0,
    )
    assert list(MarginAccountImpact.objects.filter(net_value_before__lt=0).values_list("account", flat=True)) == [
        "0x" + "22" * 20
    ]
