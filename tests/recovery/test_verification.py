"""Verifying a plan on anvil: plans approved and paid directly on chain, their rows written directly.

The database holds what each plan should pay; the tests pay all, some or none of it on chain
and check what ``verify_plan``, its API and ``plan verify`` report.
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from eth_utils import keccak, to_checksum_address
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import bind
from chain.transact import send
from recovery.commitment import Batch
from recovery.models import Allocation, ImpactAnalysis, MigrationBatch, PlanAsset, PlanMode, PlanPolicy, RecoveryPlan
from recovery.verification import COMPLETE, INCOMPLETE, MISMATCH, report_json, report_markdown, verify_plan
from tests.chain.payout_plans import (
    PUSH_WITH_FALLBACK,
    RESTORE,
    PullPlan,
    PushPlan,
    approve_pull,
    approve_push,
    claim,
    deploy_blocking_token,
    execute,
    fund_executor,
    make_batches,
    recipients,
)
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = recipients(7, 400)
AMOUNTS = [3_000_007 * (i + 1) for i in range(7)]


def _plan_rows(
    w3: Web3, demo, *, assets: list[tuple[PushPlan | PullPlan, list[tuple[str, int, int | None]]]], mode: str
) -> RecoveryPlan:
    """A RecoveryPlan whose assets are the on-chain plans given, each with its (account, amount, batch) allocations."""
    incident = IncidentFactory(chain_id=w3.eth.chain_id)
    analysis = ImpactAnalysis.objects.create(incident=incident, rollback_block=0, reference_block=0)
    plan = RecoveryPlan.objects.create(
        incident=incident,
        analysis=analysis,
        version=1,
        mode=mode,
        policy=PlanPolicy.FULL,
        recovery_executor=demo.address("recovery_executor"),
    )
    for onchain, allocations in assets:
        row = PlanAsset.objects.create(
            plan=plan, asset=onchain.token, payout_token=onchain.token, onchain_plan_id=onchain.plan_id
        )
        Allocation.objects.bulk_create(
            Allocation(
                plan_asset=row,
                account=account,
                claim=amount,
                amount=amount,
                leaf_index=i,
                tree_index=i,
                batch_index=batch,
            )
            for i, (account, amount, batch) in enumerate(allocations)
        )
        for batch in getattr(onchain, "batches", []):
            MigrationBatch.objects.create(
                plan_asset=row,
                index=batch.index,
                recipients=list(batch.recipients),
                amounts=[str(a) for a in batch.amounts],
                total=batch.total,
                leaf_hash="0x" + "00" * 32,
                gas_estimate=0,
            )
    return plan


def _allocations(batches: list[Batch]) -> list[tuple[str, int, int | None]]:
    return [(a, n, b.index) for b in batches for a, n in zip(b.recipients, b.amounts, strict=True)]


def _push_plan(w3, demo, timelock, deployer, *, plan_id: int, size: int = 3) -> tuple[PushPlan, RecoveryPlan]:
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    onchain = approve_push(
        w3, demo, timelock, plan_id=plan_id, batches=make_batches(ACCOUNTS, AMOUNTS, size), token=token
    )
    plan = _plan_rows(w3, demo, assets=[(onchain, _allocations(onchain.batches))], mode=PlanMode.RESTITUTE)
    return onchain, plan


def _lines(report) -> dict:
    (asset,) = report.assets
    return {line.account: line for line in asset.accounts}


def test_a_fully_paid_plan_is_complete_with_each_amount_and_transaction(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    onchain, plan = _push_plan(w3, demo, timelock, deployer, plan_id=101)
    hashes = [execute(w3, demo, executor_account, onchain, index) for index in range(3)]

    report = verify_plan(plan.pk)

    assert report.verdict == COMPLETE
    assert report.chain_id == w3.eth.chain_id
    assert report.block.number == w3.eth.block_number
    assert report.block.hash == "0x" + bytes(w3.eth.get_block(report.block.number)["hash"]).hex()
    lines = _lines(report)
    for account, amount, batch in _allocations(onchain.batches):
        line = lines[account]
        assert (line.status, line.paid, line.pushed, line.owed, line.claimable) == ("paid", amount, amount, 0, 0)
        assert line.transactions == [hashes[batch]]
        assert (line.balance_change, line.logged_change, line.other_activity) == (amount, amount, 0)
    (asset,) = report.assets
    assert asset.batches_executed == [0, 1, 2] and asset.batches_total == 3
    assert report.totals["paid"] == report.totals["allocated"] == sum(AMOUNTS)
    assert report.totals["owed"] == 0
    data = report_json(report)
    assert data["verdict"] == "complete" and data["totals"]["paid"] == str(sum(AMOUNTS))
    assert data["assets"][0]["accounts"][0]["paid"] == str(lines[data["assets"][0]["accounts"][0]["account"]].paid)


def test_half_the_batches_is_incomplete_and_lists_what_is_owed(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    onchain, plan = _push_plan(w3, demo, timelock, deployer, plan_id=102)
    execute(w3, demo, executor_account, onchain, 0)
    execute(w3, demo, executor_account, onchain, 2)

    report = verify_plan(plan.pk)

    assert report.verdict == INCOMPLETE
    lines = _lines(report)
    owed = {account: line.owed for account, line in lines.items() if line.owed}
    assert owed == dict(zip(onchain.batches[1].recipients, onchain.batches[1].amounts, strict=True))
    assert {lines[a].status for a in owed} == {"owed"}
    assert report.totals["owed"] == onchain.batches[1].total
    assert report.totals["paid"] == sum(AMOUNTS) - onchain.batches[1].total
    assert report.assets[0].batches_executed == [0, 2]
    markdown = report_markdown(report)
    assert "**Verdict: incomplete**" in markdown
    assert "Batches executed: 2 of 3" in markdown


def test_a_blocked_recipient_is_credited_still_claimable_and_then_paid(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    token = deploy_blocking_token(w3, demo, deployer, fund=sum(AMOUNTS))
    blocked = ACCOUNTS[2]
    send(w3, deployer, token.functions.setBlocked(blocked, True))
    onchain = approve_push(
        w3,
        demo,
        timelock,
        plan_id=103,
        batches=make_batches(ACCOUNTS, AMOUNTS, 4),
        token=token.address,
        delivery=PUSH_WITH_FALLBACK,
    )
    plan = _plan_rows(w3, demo, assets=[(onchain, _allocations(onchain.batches))], mode=PlanMode.RESTITUTE)
    execute(w3, demo, executor_account, onchain, 0)
    execute(w3, demo, executor_account, onchain, 1)

    report = verify_plan(plan.pk)

    assert report.verdict == COMPLETE  # a credit is paid by the plan: it waits on the executor for its owner
    line = _lines(report)[blocked]
    assert (line.status, line.credited, line.pushed, line.claimable, line.owed) == (
        "credited",
        AMOUNTS[2],
        0,
        AMOUNTS[2],
        0,
    )
    assert line.balance_change is None  # nothing reached the account itself
    assert report.totals["claimable"] == AMOUNTS[2]
    assert report.assets[0].delivery == "push_fallback"

    send(w3, deployer, token.functions.setBlocked(blocked, False))
    send(
        w3,
        deployer,
        bind(w3, "RecoveryExecutor", demo.address("recovery_executor")).functions.claimCredit(token.address, blocked),
    )
    after = _lines(verify_plan(plan.pk))[blocked]
    assert (after.status, after.claimable, after.paid) == ("paid", 0, AMOUNTS[2])


def test_restore_mode_mints_are_verified(w3, demo, timelock, executor_account, chain_settings):
    migrated = demo.address("migrated_vault_share")
    onchain = approve_push(
        w3, demo, timelock, plan_id=104, batches=make_batches(ACCOUNTS, AMOUNTS, 5), token=migrated, mode=RESTORE
    )
    plan = _plan_rows(w3, demo, assets=[(onchain, _allocations(onchain.batches))], mode=PlanMode.RESTORE)
    execute(w3, demo, executor_account, onchain, 0)
    execute(w3, demo, executor_account, onchain, 1)

    report = verify_plan(plan.pk)

    assert report.verdict == COMPLETE
    assert report.assets[0].mode == "restore"
    assert {line.balance_change for line in _lines(report).values()} == set(AMOUNTS)


def test_a_pull_claim_shows_as_claimed_and_the_rest_as_claimable(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    onchain = approve_pull(w3, demo, timelock, plan_id=105, accounts=ACCOUNTS, amounts=AMOUNTS, token=token)
    plan = _plan_rows(
        w3,
        demo,
        assets=[(onchain, [(a, n, None) for a, n in zip(ACCOUNTS, AMOUNTS, strict=True)])],
        mode=PlanMode.RESTITUTE,
    )
    tx_hash = claim(w3, demo, executor_account, onchain, 3)

    report = verify_plan(plan.pk)

    assert report.verdict == INCOMPLETE
    lines = _lines(report)
    assert (lines[ACCOUNTS[3]].status, lines[ACCOUNTS[3]].claimed, lines[ACCOUNTS[3]].transactions) == (
        "paid",
        AMOUNTS[3],
        [tx_hash],
    )
    assert {lines[a].status for a in ACCOUNTS if a != ACCOUNTS[3]} == {"claimable"}
    assert report.totals["claimable"] == sum(AMOUNTS) - AMOUNTS[3]
    assert report.totals["owed"] == 0
    assert report.assets[0].delivery == "pull"


def test_a_payment_the_plan_does_not_contain_is_a_mismatch(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    onchain = approve_push(w3, demo, timelock, plan_id=106, batches=make_batches(ACCOUNTS, AMOUNTS, 7), token=token)
    allocations = _allocations(onchain.batches)
    # The database lost one account and holds a smaller amount for another.
    rows = [allocations[0], (allocations[1][0], allocations[1][1] - 1, 0), *allocations[3:]]
    plan = _plan_rows(w3, demo, assets=[(onchain, rows)], mode=PlanMode.RESTITUTE)
    execute(w3, demo, executor_account, onchain, 0)

    report = verify_plan(plan.pk)

    assert report.verdict == MISMATCH
    (asset,) = report.assets
    assert [line.account for line in asset.unexpected] == [ACCOUNTS[2]]
    assert _lines(report)[ACCOUNTS[1]].status == "overpaid"
    assert len(asset.problems) == 2


def test_other_activity_in_the_paying_block_is_accounted_for(
    w3, demo, timelock, deployer, executor_account, chain_settings
):
    onchain, plan = _push_plan(w3, demo, timelock, deployer, plan_id=107, size=7)
    asset = bind(w3, "DemoAsset", onchain.token)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        send(w3, deployer, asset.functions.mint(ACCOUNTS[0], 55), wait=False)
        batch = onchain.batches[0]
        call = bind(w3, "RecoveryExecutor", demo.address("recovery_executor")).functions.executeBatch(
            onchain.plan_id, 0, list(batch.recipients), list(batch.amounts), onchain.tree.get_proof(0)
        )
        send(w3, executor_account, call, tx={"gas": 2_000_000}, wait=False)
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]

    report = verify_plan(plan.pk)

    assert report.verdict == COMPLETE
    line = _lines(report)[ACCOUNTS[0]]
    assert (line.balance_change, line.logged_change, line.other_activity) == (AMOUNTS[0] + 55, AMOUNTS[0] + 55, 55)


def test_two_assets_and_one_asset_only(w3, demo, timelock, deployer, executor_account, chain_settings):
    token = fund_executor(w3, demo, deployer, sum(AMOUNTS))
    first = approve_push(w3, demo, timelock, plan_id=108, batches=make_batches(ACCOUNTS, AMOUNTS, 7), token=token)
    migrated = demo.address("migrated_vault_share")
    second = approve_push(
        w3,
        demo,
        timelock,
        plan_id=109,
        batches=make_batches(ACCOUNTS, AMOUNTS, 7),
        token=migrated,
        mode=RESTORE,
        incident="other",
    )
    plan = _plan_rows(
        w3,
        demo,
        assets=[(first, _allocations(first.batches)), (second, _allocations(second.batches))],
        mode="restitute",
    )
    execute(w3, demo, executor_account, first, 0)

    report = verify_plan(plan.pk)
    assert [item.verdict for item in report.assets] == [COMPLETE, MISMATCH]  # the second plan's mode is restore
    assert report.verdict == MISMATCH
    only = verify_plan(plan.pk, asset=Web3.to_checksum_address(token))
    assert [item.asset for item in only.assets] == [token] and only.verdict == COMPLETE


def test_the_api_answers_json_and_markdown_downloads(w3, demo, timelock, deployer, executor_account, chain_settings):
    onchain, plan = _push_plan(w3, demo, timelock, deployer, plan_id=110)
    execute(w3, demo, executor_account, onchain, 0)
    client = APIClient()  # reads are open, as every plan read

    reply = client.get(reverse("plan-verification", args=[plan.pk]))
    assert reply.status_code == 200
    assert reply.json()["verdict"] == "incomplete"
    assert reply.json()["assets"][0]["totals"]["paid"] == str(onchain.batches[0].total)

    for answer in (
        client.get(reverse("plan-verification-markdown", args=[plan.pk])),
        client.get(reverse("plan-verification", args=[plan.pk]), {"format": "md"}),
    ):
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/markdown")
        assert answer["Content-Disposition"].startswith("attachment; filename=")
        assert "**Verdict: incomplete**" in answer.content.decode()

    assert client.get(reverse("plan-verification", args=[plan.pk + 1000])).status_code == 404
    missing = client.get(reverse("plan-verification", args=[plan.pk]), {"asset": ACCOUNTS[0]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "plan_asset_not_found"
    bad = client.get(reverse("plan-verification", args=[plan.pk]), {"asset": "nope"})
    assert bad.status_code == 400


def test_the_cli_prints_the_verdict_writes_reports_and_fails_on_a_mismatch(
    w3, demo, timelock, deployer, executor_account, chain_settings, tmp_path, capsys
):
    onchain, plan = _push_plan(w3, demo, timelock, deployer, plan_id=111)
    for index in range(3):
        execute(w3, demo, executor_account, onchain, index)

    markdown, as_json = tmp_path / "report.md", tmp_path / "report.json"
    call_command("plan", "verify", "--plan", str(plan.pk), "--output", str(markdown))
    out = capsys.readouterr().out
    assert "verdict: complete" in out and str(markdown) in out
    assert "**Verdict: complete**" in markdown.read_text()
    call_command("plan", "verify", "--plan", str(plan.pk), "--output", str(as_json), "--json")
    assert json.loads(as_json.read_text())["verdict"] == "complete"
    assert json.loads(capsys.readouterr().out)["plan_id"] == plan.pk

    Allocation.objects.filter(plan_asset__plan=plan, account=ACCOUNTS[0]).delete()
    with pytest.raises(CommandError, match="does not match"):
        call_command("plan", "verify", "--plan", str(plan.pk))


def test_a_large_plan(w3, demo, timelock, deployer, executor_account, chain_settings, request):
    """10,000 accounts in 50 batches with LIFEBOAT_VERIFY_LARGE set (prints how long it takes), else 600."""
    import os
    import time

    count = 10_000 if os.environ.get("LIFEBOAT_VERIFY_LARGE") else 600
    accounts = [to_checksum_address(keccak(text=f"verify-large-{i}")[:20]) for i in range(count)]
    amounts = [1_000 + i for i in range(count)]
    token = fund_executor(w3, demo, deployer, sum(amounts))
    onchain = approve_push(w3, demo, timelock, plan_id=112, batches=make_batches(accounts, amounts, 200), token=token)
    plan = _plan_rows(w3, demo, assets=[(onchain, _allocations(onchain.batches))], mode=PlanMode.RESTITUTE)
    for index in range(len(onchain.batches)):
        execute(w3, demo, executor_account, onchain, index)

    started = time.monotonic()
    report = verify_plan(plan.pk)
    verified = time.monotonic() - started
    markdown = report_markdown(report)
    rendered = time.monotonic() - started - verified
    print(f"\nverify_plan of {count} accounts: {verified:.2f} s, Markdown {rendered:.2f} s ({len(markdown)} chars)")

    assert report.verdict == COMPLETE
    assert report.totals["paid"] == sum(amounts)
    assert markdown.count("\n| `0x") == count + 1  # every account, and the asset's summary row
