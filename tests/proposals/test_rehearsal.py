"""The rehearsal on a fork of the session's anvil: a good plan passes with every balance checked; a
plan whose executor is unfunded, whose payout token blocks a recipient, or whose parameter change
reverts fails and says why; the fork is stopped whatever happens; the body shows the result."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from eth_utils import keccak

from chain import devkeys
from chain.anvil import free_port
from chain.artifacts import bind, factory
from chain.transact import send
from governance.exceptions import VenueNotFound
from governance.models import GovernorVenue
from proposals.exceptions import ProposalNotFound, RehearsalNotFound
from proposals.models import ProposalDocument, Rehearsal, RehearsalStatus
from proposals.rehearsals import (
    passed_rehearsal,
    rehearse_proposal,
    request_rehearsal,
    run_rehearsal,
)
from proposals.services import freeze_proposal
from recovery import plans
from recovery.exceptions import ChainMismatch, ChainUnavailable
from recovery.models import Allocation, MigrationBatch
from tests.factories import analysed_exploit
from tests.governance.governors import dev_venue

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

GUARDIAN_ROLE = "0x" + keccak(text="GUARDIAN_ROLE").hex()
NEW_GUARDIAN = "0x000000000000000000000000000000000000dEaD"
SMALL_BATCHES = 80_000 + 5 * 32_000  # gas ceiling: at most five recipients a batch, so several batches


@pytest.fixture
def analysis(anvil, exploited, chain_settings):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])


@pytest.fixture
def venue(anvil, demo):
    return dev_venue(demo, anvil)


def frozen(analysis, exploited, **options) -> ProposalDocument:
    plan = plans.build_plan(
        analysis_id=analysis.pk, mode="restitute", policy="full", gas_ceiling=SMALL_BATCHES, **options
    )
    return freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]


def allocations(proposal: ProposalDocument) -> dict[str, int]:
    rows = Allocation.objects.filter(plan_asset__plan=proposal.plan).values_list("account", "amount")
    return {account: int(amount) for account, amount in rows if int(amount)}


def fund_with_vault_shares(w3, demo, deployer, amount: int) -> None:
    """The deployer deposits enough dUSD into the vault for the RecoveryExecutor to hold ``amount`` shares."""
    asset, vault = bind(w3, "DemoAsset", demo.address("asset")), bind(w3, "DemoVault", demo.address("vault"))
    deposit = 2 * amount + 10**6  # the exploit moved the share price; twice the shares is ample
    send(w3, deployer, asset.functions.mint(deployer.address, deposit))
    send(w3, deployer, asset.functions.approve(vault.address, deposit))
    send(w3, deployer, vault.functions.deposit(deposit, demo.address("recovery_executor")))
    assert vault.functions.balanceOf(demo.address("recovery_executor")).call() >= amount


def fork_processes() -> list[int]:
    """PIDs of this process's children that are anvil forks (a stopped fork is reaped: not listed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"--fork-url" in command:
            found.append(int(entry.name))
    return found


def rehearse(proposal, venue, anvil, lines=None):
    return rehearse_proposal(
        proposal_id=proposal.pk,
        venue_id=venue.pk,
        rpc_url=anvil.url,
        progress=(lines.append if lines is not None else None),
    )


def test_a_funded_plan_passes_with_every_balance_checked_and_the_fork_stopped(
    w3, anvil, demo, exploited, analysis, venue, deployer
):
    change = {
        "target": demo.address("recovery_executor"),
        "signature": "grantRole(bytes32,address)",
        "args": [GUARDIAN_ROLE, NEW_GUARDIAN],
    }
    proposal = frozen(analysis, exploited, parameter_changes=[change])
    expected = allocations(proposal)
    fund_with_vault_shares(w3, demo, deployer, sum(expected.values()))
    head = w3.eth.block_number
    lines: list[str] = []

    rehearsal = rehearse(proposal, venue, anvil, lines)

    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.report["failures"]
    report = rehearsal.report
    assert report["passed"] and report["failures"] == []
    assert (rehearsal.chain_id, rehearsal.fork_block) == (31337, head)
    assert rehearsal.fork_block_hash == w3.eth.get_block(head)["hash"].to_0x_hex()
    assert rehearsal.content_hash == report["content_hash"] == proposal.content_hash
    grant, approve = report["calls"]
    assert grant["status"] == approve["status"] == "ok"
    assert grant["events"][0]["event"] == "RoleGranted"
    assert grant["events"][0]["args"]["account"] == NEW_GUARDIAN
    advanced, approved = approve["events"]  # version 1 of the incident, then the plan
    plan_asset = proposal.plan.assets.get()
    assert advanced["event"] == "IncidentVersionAdvanced" and advanced["args"]["version"] == "1"
    assert approved["event"] == "PlanApproved"
    assert approved["args"]["incidentKey"] == plans.incident_key(31337, proposal.incident_id)
    assert approved["args"]["planId"] == str(plan_asset.onchain_plan_id)
    assert approved["args"]["budget"] == str(sum(expected.values()))
    batches = report["batches"]
    assert len(batches) == MigrationBatch.objects.filter(plan_asset=plan_asset).count() > 1
    assert all(b["status"] == "ok" and b["gas_used"] > 0 for b in batches)
    assert [b["index"] for b in batches] == list(range(len(batches)))
    assert all(b["events"][0]["event"] == "BatchExecuted" for b in batches)
    assert sum(b["other_events"]["Transfer"] for b in batches) == len(expected)
    assert report["balances"] == {
        "status": "ok",
        "checked": len(expected),
        "matched": len(expected),
        "mismatched": 0,
        "mismatches": [],
        "credited": 0,
        "short_paid_tokens": [],
    }
    assert report["credited"] == report["findings"] == [] and report["claims"] == []
    assert report["total_gas"] == rehearsal.total_gas == sum(s["gas_used"] for s in [*report["calls"], *batches])
    # The parent chain is untouched: nothing was sent to it.
    assert w3.eth.block_number == head
    # The fork ran as a child process, and is gone.
    pid = int(next(line for line in lines if "anvil pid" in line).rsplit("pid ", 1)[1].rstrip(")"))
    assert lines[-1] == "fork stopped"
    assert not fork_processes() and not Path(f"/proc/{pid}").exists()
    # It kept nothing on disk that a fork of a restarted dev chain (same number, other state) would read.
    assert not (Path.home() / ".foundry" / "cache" / "rpc" / "anvil-hardhat" / str(head)).exists()
    proposal.refresh_from_db()
    assert f"Rehearsal: passed. {rehearsal.summary}" in proposal.body
    assert f"Report hash: {rehearsal.report_hash}" in proposal.body
    assert proposal.body.rstrip("\n").endswith(f"content-hash: {proposal.content_hash}")
    assert passed_rehearsal(proposal_id=proposal.pk) == rehearsal


def test_an_unfunded_executor_fails_every_batch_and_a_later_funded_rehearsal_counts(
    w3, anvil, demo, exploited, analysis, venue, deployer
):
    proposal = frozen(analysis, exploited)
    expected = allocations(proposal)

    failed = rehearse(proposal, venue, anvil)

    assert failed.status == RehearsalStatus.FAILED
    batches = failed.report["batches"]
    assert batches and all(b["status"] == "reverted" for b in batches)
    # A restitute batch may only spend what the executor holds beyond others' reserved funds.
    assert {b["revert"]["error"] for b in batches} == {"ReservedFunds"}
    assert batches[0]["revert"]["args"] == [exploited["vault"], "0"]
    balances = failed.report["balances"]
    assert balances["mismatched"] == balances["checked"] == len(expected)
    assert len(balances["mismatches"]) == min(20, len(expected))
    first = balances["mismatches"][0]
    assert first["received"] == "0" and first["expected"] == str(expected[first["account"]])
    assert failed.report["failures"][0].startswith("batch 0 of ")
    assert "reverted: ReservedFunds(" in failed.report["failures"][0]
    assert not fork_processes()
    proposal.refresh_from_db()
    assert "Rehearsal: FAILED." in proposal.body and failed.report_hash in proposal.body
    assert passed_rehearsal(proposal_id=proposal.pk) is None

    fund_with_vault_shares(w3, demo, deployer, sum(expected.values()))
    passed = rehearse(proposal, venue, anvil)

    assert passed.status == RehearsalStatus.PASSED
    assert passed_rehearsal(proposal_id=proposal.pk) == passed
    proposal.refresh_from_db()
    assert "Rehearsal: passed." in proposal.body and "FAILED" not in proposal.body


def test_a_recipient_the_payout_token_blocks_fails_its_push_batch_alone(
    w3, anvil, demo, exploited, analysis, venue, deployer
):
    token_receipt = send(w3, deployer, factory(w3, "BlockingToken").constructor(deployer.address, 6))
    token = bind(w3, "BlockingToken", token_receipt["contractAddress"])
    proposal = frozen(analysis, exploited, payout_tokens={exploited["vault"]: token.address}, delivery="push")
    expected = allocations(proposal)
    blocked = sorted(expected)[0]
    send(w3, deployer, token.functions.mint(demo.address("recovery_executor"), sum(expected.values())))
    send(w3, deployer, token.functions.setBlocked(blocked, True))
    batch_of_blocked = next(
        b.index for b in MigrationBatch.objects.filter(plan_asset__plan=proposal.plan) if blocked in b.recipients
    )

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.FAILED
    batches = rehearsal.report["batches"]
    reverted = [b for b in batches if b["status"] == "reverted"]
    assert [b["index"] for b in reverted] == [batch_of_blocked]
    assert reverted[0]["revert"]["error"] == "AccountBlocked"
    assert reverted[0]["revert"]["args"] == [blocked]
    assert all(b["status"] == "ok" for b in batches if b["index"] != batch_of_blocked)
    unpaid = MigrationBatch.objects.get(plan_asset__plan=proposal.plan, index=batch_of_blocked).recipients
    balances = rehearsal.report["balances"]
    assert balances["mismatched"] == len(unpaid)
    assert blocked in {m["account"] for m in balances["mismatches"]}
    assert balances["matched"] == len(expected) - len(unpaid)
    assert any(f"AccountBlocked({blocked})" in failure for failure in rehearsal.report["failures"])
    assert not fork_processes()


def test_with_the_claimable_fallback_a_blocked_recipient_is_credited_and_reported_as_a_finding(
    w3, anvil, demo, exploited, analysis, venue, deployer
):
    token_receipt = send(w3, deployer, factory(w3, "BlockingToken").constructor(deployer.address, 6))
    token = bind(w3, "BlockingToken", token_receipt["contractAddress"])
    proposal = frozen(analysis, exploited, payout_tokens={exploited["vault"]: token.address})
    assert proposal.plan.delivery == "push_fallback"  # the restitute default
    expected = allocations(proposal)
    blocked = sorted(expected)[0]
    send(w3, deployer, token.functions.mint(demo.address("recovery_executor"), sum(expected.values())))
    send(w3, deployer, token.functions.setBlocked(blocked, True))

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.report["failures"]
    report = rehearsal.report
    assert all(b["status"] == "ok" for b in report["batches"])
    assert report["credited"] == [
        {
            "plan_id": str(proposal.plan.assets.get().onchain_plan_id),
            "account": blocked,
            "token": token.address,
            "amount": str(expected[blocked]),
        }
    ]
    assert report["findings"] and blocked in report["findings"][0] and "claimCredit" in report["findings"][0]
    assert report["balances"]["matched"] == len(expected) and report["balances"]["credited"] == 1
    assert "1 recipient(s) credited" in rehearsal.summary


def test_a_fee_on_transfer_payout_token_fails_naming_the_token(w3, anvil, demo, exploited, analysis, venue, deployer):
    token_receipt = send(w3, deployer, factory(w3, "FeeOnTransferToken").constructor(deployer.address, 6, 100))
    token = bind(w3, "FeeOnTransferToken", token_receipt["contractAddress"])
    proposal = frozen(analysis, exploited, payout_tokens={exploited["vault"]: token.address})
    expected = allocations(proposal)
    send(w3, deployer, token.functions.mint(demo.address("recovery_executor"), sum(expected.values())))

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.FAILED
    report = rehearsal.report
    assert all(b["status"] == "ok" for b in report["batches"])  # the chain took every batch...
    (short,) = report["balances"]["short_paid_tokens"]  # ...but the recipients got 1% less
    assert short["token"] == token.address and short["count"] == len(expected)
    assert int(short["received"]) == int(short["expected"]) - int(short["expected"]) // 100
    failure = report["failures"][0]
    assert f"the payout token {token.address} delivered less than was sent" in failure
    assert "fee-on-transfer or rebasing token and cannot be paid exactly" in failure
    assert passed_rehearsal(proposal_id=proposal.pk) is None  # so it can be neither signed off nor published


def test_a_pull_plan_rehearses_every_claim_with_its_allocation_proof(
    w3, anvil, demo, exploited, analysis, venue, deployer
):
    proposal = frozen(analysis, exploited, delivery="pull", claim_days=30)
    expected = allocations(proposal)
    fund_with_vault_shares(w3, demo, deployer, sum(expected.values()))

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.report["failures"]
    report = rehearsal.report
    assert report["batches"] == []
    assert report["claims_run"] == {"run": len(expected), "total": len(expected), "sampled": False}
    assert {c["account"]: int(c["amount"]) for c in report["claims"]} == expected
    assert all(c["status"] == "ok" and c["events"][0]["event"] == "Claimed" for c in report["claims"])
    assert report["balances"]["matched"] == len(expected)
    (approve,) = report["calls"]
    assert approve["events"][-1]["args"]["delivery"] == "2"


def test_a_large_pull_plan_rehearses_an_even_sample_of_its_claims_and_says_so(
    w3, anvil, demo, exploited, analysis, venue, deployer, settings
):
    settings.REHEARSAL_MAX_CLAIMS = 5
    proposal = frozen(analysis, exploited, delivery="pull", claim_days=30)
    expected = allocations(proposal)
    fund_with_vault_shares(w3, demo, deployer, sum(expected.values()))

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.PASSED, rehearsal.report["failures"]
    claims = rehearsal.report["claims"]
    assert rehearsal.report["claims_run"] == {"run": 5, "total": len(expected), "sampled": True}
    assert claims[0]["index"] == 0 and claims[-1]["index"] == len(expected) - 1
    assert rehearsal.report["balances"]["checked"] == 5
    assert f"(a sample of {len(expected)})" in rehearsal.summary


def test_a_venue_on_another_recovery_executor_is_refused_and_nothing_is_stored(anvil, demo, exploited, analysis):
    from proposals.exceptions import ExecutorMismatch

    proposal = frozen(analysis, exploited, recovery_executor=demo.address("vault"))
    venue = dev_venue(demo, anvil)
    with pytest.raises(ExecutorMismatch, match="bound to the RecoveryExecutor") as refused:
        request_rehearsal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.status == 409
    assert not Rehearsal.objects.exists()


def test_a_reverting_parameter_change_fails_and_nothing_after_it_runs(anvil, demo, exploited, analysis, venue):
    change = {"target": demo.address("recovery_executor"), "signature": "revokePlan(uint256)", "args": ["12345"]}
    proposal = frozen(analysis, exploited, parameter_changes=[change])

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.FAILED
    revoke, approve = rehearsal.report["calls"]
    assert revoke["status"] == "reverted"
    assert revoke["revert"] == {"error": "PlanNotActive", "args": ["12345"], "shown": "PlanNotActive(12345)"}
    assert approve["status"] == "skipped"
    assert {b["status"] for b in rehearsal.report["batches"]} == {"skipped"}
    assert rehearsal.report["balances"]["status"] == "skipped"
    assert rehearsal.report["failures"][0] == (
        f"call 1 (parameter change 0: revokePlan(uint256) on {demo.address('recovery_executor')}) "
        "reverted: PlanNotActive(12345)"
    )
    assert "First failure: call 1" in rehearsal.summary
    assert not fork_processes()


def test_an_executor_key_without_the_executor_role_fails_naming_the_grant(
    anvil, demo, exploited, analysis, venue, settings
):
    settings.LIFEBOAT_KEYS = {
        **settings.LIFEBOAT_KEYS,
        "executor": {**settings.LIFEBOAT_KEYS["executor"], "private_key": devkeys.COMMITTEE_KEY, "keystore": ""},
    }
    proposal = frozen(analysis, exploited)

    rehearsal = rehearse(proposal, venue, anvil)

    assert rehearsal.status == RehearsalStatus.FAILED
    role = rehearsal.report["executor_role"]
    assert role["holds"] is False and role["account"] == demo.committee
    assert rehearsal.report["failures"] == [role["message"]]
    assert f"{demo.committee} (the executor key's address) does not hold EXECUTOR_ROLE" in role["message"]
    assert "grantRole(0x" in role["message"]
    assert {b["status"] for b in rehearsal.report["batches"]} == {"skipped"}
    assert all(c["status"] == "ok" for c in rehearsal.report["calls"])


def test_a_venue_on_another_chain_is_refused_and_nothing_is_stored(anvil, exploited, analysis, venue):
    proposal = frozen(analysis, exploited)
    GovernorVenue.objects.filter(pk=venue.pk).update(chain_id=1)
    with pytest.raises(ChainMismatch, match=f"venue {venue.pk} is on chain 1, but proposal document"):
        request_rehearsal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert not Rehearsal.objects.exists()


def test_unknown_proposals_and_venues_are_refused(anvil, exploited, analysis, venue):
    proposal = frozen(analysis, exploited)
    with pytest.raises(ProposalNotFound):
        request_rehearsal(proposal_id=proposal.pk + 1000, venue_id=venue.pk, rpc_url=anvil.url)
    with pytest.raises(VenueNotFound):
        request_rehearsal(proposal_id=proposal.pk, venue_id=venue.pk + 1000, rpc_url=anvil.url)
    with pytest.raises(RehearsalNotFound):
        run_rehearsal(rehearsal_id=12345, rpc_url=anvil.url)
    assert not Rehearsal.objects.exists()


def test_an_unreachable_node_is_refused_without_its_secret_and_nothing_is_stored(exploited, analysis, venue):
    proposal = frozen(analysis, exploited)
    url = f"http://127.0.0.1:{free_port()}/v3/SECRETKEY0123456789"
    with pytest.raises(ChainUnavailable) as refused:
        request_rehearsal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=url)
    assert "SECRETKEY0123456789" not in str(refused.value)
    assert not Rehearsal.objects.exists()


def test_a_node_failing_after_the_request_ends_the_rehearsal_as_an_error_without_its_secret(
    anvil, exploited, analysis, venue
):
    proposal = frozen(analysis, exploited)
    body = proposal.body
    requested = request_rehearsal(proposal_id=proposal.pk, venue_id=venue.pk, rpc_url=anvil.url)

    ended = run_rehearsal(rehearsal_id=requested.pk, rpc_url=f"http://127.0.0.1:{free_port()}/v3/SECRETKEY0123456789")

    assert ended.status == RehearsalStatus.ERROR and ended.report is None
    assert ended.error.startswith("the rehearsal could not run:")
    assert "SECRETKEY0123456789" not in ended.error
    assert not fork_processes()
    proposal.refresh_from_db()
    assert proposal.body == body  # an error says nothing about the plan
    # Finished: running it again changes nothing.
    assert run_rehearsal(rehearsal_id=requested.pk, rpc_url=anvil.url).status == RehearsalStatus.ERROR


def test_the_command_prints_progress_and_fails_a_failed_rehearsal(anvil, demo, exploited, analysis, venue):
    proposal = frozen(analysis, exploited)  # the executor is not funded: it fails
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"rehearsal \d+ failed: "):
        call_command("proposal", "rehearse", "--proposal", proposal.pk, "--venue", venue.pk, stdout=out, stderr=err)
    printed = out.getvalue()
    assert "fork started at block" in printed and "batch 1/" in printed and "fork stopped" in printed
    assert f"of proposal document {proposal.pk} on venue {venue.pk}: FAILED" in printed
    assert "ReservedFunds" in printed
    assert not fork_processes()
