"""A holder finds their own account in a restore-positions proposal: the position the plan
re-creates for them on the migrated market, its batch, and their margin account's valuation;
the payment-only rows (claim, allocation, allocation root) are not shown for such a plan.

The plan is a real one (tests/proposals/test_rehearsal_positions.py's fixtures): the demo margin
market's positions at the rollback block, on anvil.
"""

import html

import pytest
from django.test import Client
from rest_framework.test import APIClient

from recovery.models import MarginAccountImpact, MarginLiquidation, MigrationBatch
from tests.factories import UserFactory
from tests.proposals.test_rehearsal_positions import liquidated, proposal  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


def _page(client: Client, document_id: int, account: str):
    response = client.get(f"/proposals/{document_id}/accounts/{account}/")
    return response.status_code, html.unescape(response.content.decode())


def test_a_holder_sees_the_position_the_plan_restores_for_them(proposal):  # noqa: F811
    batch = MigrationBatch.objects.filter(plan_asset__plan=proposal.plan).order_by("index").last()
    row = batch.positions[-1]
    account = row["account"]
    plan_asset = proposal.plan.assets.get()
    # The impact's valuation of that account, as the margin impact service stores it.
    analysis_id = proposal.plan.analysis_id
    MarginAccountImpact.objects.create(
        analysis_id=analysis_id,
        market=plan_asset.asset,
        account=account,
        net_value_before=5_202_918_517,
        net_value_after=0,
        lost_net_value=5_202_918_517,
        health_factor_before=2 * 10**18,
        pnl_before=0,
        collateral_before=int(row["collateral"]),
        debt_before=int(row["debt"]),
        liquidated=True,
    )
    MarginLiquidation.objects.create(
        analysis_id=analysis_id,
        market=plan_asset.asset,
        account=account,
        liquidator="0x" + "11" * 20,
        block=proposal.plan.analysis.reference_block,
        tx_hash="0x" + "ab" * 32,
        log_index=0,
        price=80_000_000,
        seized_collateral=int(row["collateral"]),
        debt_repaid=int(row["debt"]),
        closed_size=int(row["size"]),
        realized_pnl=0,
        penalty=743_274_075,
    )

    status, page = _page(Client(), proposal.pk, account.lower())
    assert status == 200, page
    assert "Your position, restored" in page and plan_asset.venue in page
    assert f"in batch {batch.index}" in page and batch.leaf_hash in page
    assert f"{int(row['collateral']):,}" in page and f"{int(row['debt']):,}" in page
    assert "Your margin account" in page and "5,202,918,517 (5,202.918517) USD" in page
    assert "Liquidated in block" in page and "743,274,075 (743.274075) USD" in page
    # A restore-positions plan pays nobody: no claim, allocation or allocation root to mislead.
    assert "Allocation root" not in page and "Claim" not in page

    # The same through the API, for a committee member checking it.
    api = APIClient()
    api.force_authenticate(UserFactory(committee=True))
    answer = api.get(f"/api/plans/{proposal.plan_id}/accounts/{account}/").json()
    entry = answer["assets"][0]
    assert entry["restore"] == {
        "venue": plan_asset.venue,
        "batch_index": batch.index,
        "batch_leaf_hash": batch.leaf_hash,
        "row": row,
    }
    assert entry["margin"]["liquidated"] is True and entry["margin"]["liquidations"][0]["penalty"] == "743274075"


def test_an_account_the_plan_does_not_restore_is_told_so(proposal):  # noqa: F811
    status, page = _page(Client(), proposal.pk, "0x" + "5a" * 20)
    assert status == 404
    assert "is not affected by proposal" in page
