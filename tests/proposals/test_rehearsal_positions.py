"""The rehearsal of a restore-positions plan on a fork of the session's anvil.

A real plan: the demo margin market's positions seeded, funding accrued, the rollback block; the
price dropped and the liquidatable accounts liquidated; the plan restores every affected account
on the migrated market. Its batches run through ``executePositionBatch`` on the fork and each
restored account is read back there. It passes with every account compared when the executor
holds the asset and the venue grants it the restorer role, and fails with the reason named when
either is missing. The report page shows the check and its mismatches.
"""

import html

import pytest
from django.test import Client
from django.urls import reverse

from chain.artifacts import bind
from chain.demo import liquidate_all
from chain.transact import send
from proposals.models import ProposalDocument, RehearsalStatus
from proposals.rehearsals import passed_rehearsal, rehearse_proposal
from proposals.services import freeze_proposal
from recovery import plans, positions_plan
from recovery.models import AnalysisStatus, ImpactAnalysis, MigrationBatch
from tests.factories import PASSWORD, IncidentFactory, UserFactory
from tests.governance.governors import dev_venue

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

FUNDING_BEFORE = 10**15  # accrued before the rollback block: every long and short carries some funding debt
SMALL_BATCHES = positions_plan.GAS_POSITION_BASE + 4 * positions_plan.GAS_PER_POSITION  # four accounts a batch


@pytest.fixture
def liquidated(w3, margin_demo, deployer, timelock):
    """The rollback block after funding accrued; then the price dropped to 0.80 and the liquidatable
    accounts liquidated (the reference block)."""
    demo, accounts = margin_demo
    market = bind(w3, "MarginMarket", demo.address("margin_market"))
    w3.eth.wait_for_transaction_receipt(market.functions.accrueFunding(FUNDING_BEFORE).transact({"from": timelock}))
    rollback = w3.eth.block_number
    send(w3, deployer, bind(w3, "DemoPriceFeed", demo.address("price_feed")).functions.setAnswer(80_000_000))
    liquidate_all(w3, demo, liquidator=deployer, accounts=accounts)
    return {"demo": demo, "market": market, "rollback": rollback, "reference": w3.eth.block_number}


def margin_analysis(w3, liquidated) -> ImpactAnalysis:
    """A completed analysis of the liquidated market, naming it with the margin position reader."""
    market = liquidated["market"].address
    return ImpactAnalysis.objects.create(
        incident=IncidentFactory(
            title="Margin market liquidated at a wrong price", affected_contracts=[market], chain_id=w3.eth.chain_id
        ),
        rollback_block=liquidated["rollback"],
        reference_block=liquidated["reference"],
        tracked_assets=[market],
        position_readers={market: positions_plan.MARGIN_READER},
        status=AnalysisStatus.COMPLETED,
        node_chain_id=w3.eth.chain_id,
        rollback_block_hash=w3.eth.get_block(liquidated["rollback"])["hash"].to_0x_hex(),
        reference_block_hash=w3.eth.get_block(liquidated["reference"])["hash"].to_0x_hex(),
        summary={},
    )


@pytest.fixture
def proposal(w3, anvil, liquidated, chain_settings) -> ProposalDocument:
    """The restore-positions plan of the liquidated market, frozen into its proposal document."""
    plan = plans.build_plan(
        analysis_id=margin_analysis(w3, liquidated).pk,
        mode="restore_positions",
        policy="full",
        venue=liquidated["demo"].address("migrated_margin_market"),
        gas_ceiling=SMALL_BATCHES,
    )
    return freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]


@pytest.fixture
def venue(anvil, demo):
    return dev_venue(demo, anvil)


def rows(proposal: ProposalDocument) -> list[dict[str, str]]:
    batches = MigrationBatch.objects.filter(plan_asset__plan=proposal.plan).order_by("index")
    return [row for batch in batches for row in batch.positions]


def needed(proposal: ProposalDocument) -> int:
    return sum(int(row["collateral"]) + int(row["margin"]) for row in rows(proposal))


def fund_executor(w3, demo, deployer, amount: int) -> None:
    send(
        w3,
        deployer,
        bind(w3, "DemoAsset", demo.address("asset")).functions.mint(demo.address("recovery_executor"), amount),
    )


def report_page(rehearsal) -> str:
    client = Client()
    assert client.login(username=UserFactory(committee=True).username, password=PASSWORD)
    reply = client.get(reverse("committee-rehearsal", args=[rehearsal.pk]))
    assert reply.status_code == 200
    return html.unescape(reply.content.decode())


def test_a_funded_plan_passes_with_every_restored_account_read_back_on_the_venue(
    w3, anvil, liquidated, proposal, venue, deployer
):
    demo = liquidated["demo"]
    expected = rows(proposal)
    assert len(expected) > 4 and any(int(row["funding_debt"]) for row in expected)
    fund_executor(w3, demo, deployer, needed(proposal))
    migrated = bind(w3, "MarginMarket", demo.address("migrated_margin_market"))
    head = w3.eth.block_number

    rehearsal = rehearse_proposal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)

    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.report["failures"]
    report = rehearsal.report
    (approve,) = report["calls"]
    approved = approve["events"][-1]
    assert approved["event"] == "PlanApproved" and approved["args"]["budget"] == str(needed(proposal))
    batches = report["batches"]
    assert len(batches) == MigrationBatch.objects.filter(plan_asset__plan=proposal.plan).count() > 1
    assert [b["index"] for b in batches] == list(range(len(batches)))
    assert all(b["status"] == "ok" and b["venue"] == migrated.address for b in batches)
    assert all(b["events"][-1]["event"] == "BatchExecuted" for b in batches)
    assert sum(b["recipients"] for b in batches) == len(expected)
    assert sum(int(b["total"]) for b in batches) == needed(proposal)
    assert report["restore"]["venues"] == [
        {
            "venue": migrated.address,
            "holds": True,
            "message": f"the venue {migrated.address} grants the RecoveryExecutor "
            f"{demo.address('recovery_executor')} its RESTORER_ROLE",
        }
    ]
    (funds,) = report["restore"]["funds"]
    assert funds["enough"] and funds["needed"] == funds["free"] == str(needed(proposal))
    assert report["positions"] == {
        "status": "ok",
        "block": report["positions"]["block"],
        "checked": len(expected),
        "matched": len(expected),
        "mismatched": 0,
        "mismatches": [],
    }
    assert report["balances"]["checked"] == 0  # nobody is paid: the positions are checked instead
    assert f"{len(expected)} of {len(expected)} restored position(s) exact" in rehearsal.summary
    assert passed_rehearsal(proposal_id=proposal.pk) == rehearsal
    # Nothing reached the parent chain: the venue still holds none of the accounts.
    assert w3.eth.block_number == head
    assert all(not any(migrated.functions.accountOf(row["account"]).call()) for row in expected)
    page = report_page(rehearsal)
    assert "every restored account on the venue equals its committed row" in page
    assert f"{len(expected)} of {len(expected)} restored accounts on the venue equal their committed rows" in page


def test_a_venue_that_does_not_grant_the_restorer_role_fails_with_the_reason_named(
    w3, anvil, liquidated, proposal, venue, deployer, timelock
):
    demo = liquidated["demo"]
    fund_executor(w3, demo, deployer, needed(proposal))
    migrated = bind(w3, "MarginMarket", demo.address("migrated_margin_market"))
    restorer = migrated.functions.RESTORER_ROLE().call()
    executor = demo.address("recovery_executor")
    w3.eth.wait_for_transaction_receipt(migrated.functions.revokeRole(restorer, executor).transact({"from": timelock}))

    rehearsal = rehearse_proposal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)

    assert rehearsal.status == RehearsalStatus.FAILED
    report = rehearsal.report
    reason = report["failures"][0]
    assert reason.startswith(
        f"the venue {migrated.address} does not grant the RecoveryExecutor {executor} its RESTORER_ROLE"
    )
    assert f"grantRole(0x{restorer.hex()}, {executor})" in reason
    batches = report["batches"]
    assert batches and all(b["status"] == "reverted" for b in batches)
    assert {b["revert"]["error"] for b in batches} == {"AccessControlUnauthorizedAccount"}
    assert batches[0]["revert"]["args"] == [executor, "0x" + restorer.hex()]
    assert report["failures"][1].startswith("batch 0 of ")
    positions = report["positions"]
    assert positions["mismatched"] == positions["checked"] == len(rows(proposal))
    assert passed_rehearsal(proposal_id=proposal.pk) is None
    proposal.refresh_from_db()
    assert "Rehearsal: FAILED." in proposal.body
    page = report_page(rehearsal)
    assert reason in page and "AccessControlUnauthorizedAccount" in page


def test_an_executor_without_the_asset_fails_every_batch_named_and_lists_the_mismatches(
    w3, anvil, liquidated, proposal, venue, deployer
):
    demo = liquidated["demo"]
    executor = demo.address("recovery_executor")
    asset = demo.address("asset")
    short = needed(proposal) - 1
    fund_executor(w3, demo, deployer, short)

    rehearsal = rehearse_proposal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)

    assert rehearsal.status == RehearsalStatus.FAILED
    report = rehearsal.report
    assert report["failures"][0] == (
        f"the RecoveryExecutor {executor} holds {short} of {asset} beyond what it reserves, but the "
        f"{len(report['batches'])} position batch(es) need {needed(proposal)} (collateral plus margin of every "
        "restored account): batches revert ReservedFunds until it is sent the 1 missing"
    )
    batches = report["batches"]
    # Every batch but the last is paid for; the last finds one base unit missing.
    assert [b["status"] for b in batches] == ["ok"] * (len(batches) - 1) + ["reverted"]
    last = batches[-1]
    assert last["revert"]["error"] == "ReservedFunds"
    assert last["revert"]["args"] == [asset, str(int(last["total"]) - 1)]
    assert any(f.startswith(f"batch {last['index']} of ") and "ReservedFunds(" in f for f in report["failures"])
    positions = report["positions"]
    unrestored = [row for row in rows(proposal) if row["account"] in _accounts_of(proposal, last["index"])]
    assert positions["mismatched"] == len(unrestored) == last["recipients"]
    assert positions["matched"] == positions["checked"] - len(unrestored)
    first = positions["mismatches"][0]
    assert first["account"] == unrestored[0]["account"]
    collateral = next(d for d in first["differences"] if d["field"] == "collateral")
    assert collateral == {"field": "collateral", "expected": unrestored[0]["collateral"], "found": "0"}
    page = report_page(rehearsal)
    assert "ReservedFunds" in page and first["account"] in page
    assert f"{positions['mismatched']} do not" in page


def _accounts_of(proposal: ProposalDocument, index: int) -> set[str]:
    batch = MigrationBatch.objects.get(plan_asset__plan=proposal.plan, index=index)
    return {row["account"] for row in batch.positions}


def test_a_stored_batch_altered_after_the_vote_runs_nothing_and_says_so(
    w3, anvil, liquidated, proposal, venue, deployer
):
    fund_executor(w3, liquidated["demo"], deployer, needed(proposal))
    batch = MigrationBatch.objects.filter(plan_asset__plan=proposal.plan).order_by("index").first()
    altered = [dict(row) for row in batch.positions]
    altered[0]["collateral"] = str(int(altered[0]["collateral"]) + 1)
    MigrationBatch.objects.filter(pk=batch.pk).update(positions=altered)

    rehearsal = rehearse_proposal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)

    assert rehearsal.status == RehearsalStatus.FAILED
    report = rehearsal.report
    assert "the stored plan was altered" in report["failures"][0]
    assert report["batches"] == [] and report["positions"]["status"] == "skipped"
    assert report["positions"]["note"].startswith("not run: ")
