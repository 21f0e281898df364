"""Executing a restore-positions plan: every liquidated account re-created on the migrated market
exactly as it was at the rollback block, exactly once, through real workers; then read back.

Real anvil with the demo stack's MarginMarket pair: positions seeded, funding accrued, the
rollback block; the price dropped and the liquidatable accounts liquidated. The plan is built
through the plans API from a real analysis, approved by the timelock as governance would, and
run by the execution service on real Celery workers (threads of this process, and worker
processes SIGKILLed at a failpoint for the crash test, as ``test_execution_worker_faults.py``).
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import bind
from chain.transact import send
from recovery import execution, positions_plan
from recovery.models import (
    BatchSend,
    BatchSendState,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    MigrationBatch,
    RecoveryPlan,
    SentTransaction,
)
from tests.factories import UserFactory

FUNDING_BEFORE = 10**15  # accrued on the old market before the rollback block: carried over as funding debt
FUNDING_AFTER = 3 * 10**15  # accrued after it: no row may carry it
PER_BATCH = 3
FIELDS = ("collateral", "debt", "size", "entry_price", "margin")


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    return settings


@pytest.fixture
def liquidated(w3, anvil, margin_demo, deployer, timelock, chain_settings):
    """Positions seeded, funding accrued, the rollback block; then the price dropped, the
    liquidatable accounts liquidated and more funding accrued: the reference block."""
    from chain.demo import liquidate_all
    from chain.transact import wait_for

    demo, accounts = margin_demo
    market = bind(w3, "MarginMarket", demo.address("margin_market"))
    wait_for(w3, market.functions.accrueFunding(FUNDING_BEFORE).transact({"from": timelock}))
    rollback = w3.eth.block_number
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    send(w3, deployer, feed.functions.setAnswer(80_000_000))
    liquidate_all(w3, demo, liquidator=deployer, accounts=accounts)
    wait_for(w3, market.functions.accrueFunding(FUNDING_AFTER).transact({"from": timelock}))
    venue = demo.address("migrated_margin_market")
    return {
        "demo": demo,
        "accounts": accounts,
        "market": market,
        "venue": bind(w3, "MarginMarket", venue),
        "rollback": rollback,
        "reference": w3.eth.block_number,
    }


def _client(**role: bool) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(**role))
    return client


def _book(market, accounts, block) -> dict[str, tuple]:
    return {a: tuple(market.functions.accountOf(a).call(block_identifier=block)) for a in accounts}


def build_plan(w3: Web3, liquidated) -> RecoveryPlan:
    """A restore-positions plan of several batches, built through the plans API from a real analysis."""
    from recovery.models import AnalysisStatus, ImpactAnalysis
    from tests.factories import IncidentFactory

    market = liquidated["market"].address
    incident = IncidentFactory(
        title="Margin market liquidated at a wrong price", affected_contracts=[market], chain_id=w3.eth.chain_id
    )
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
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
    ceiling = positions_plan.GAS_POSITION_BASE + PER_BATCH * positions_plan.GAS_PER_POSITION
    reply = _client(committee=True).post(
        f"/api/analyses/{analysis.pk}/plans/",
        {
            "mode": "restore_positions",
            "policy": "full",
            "venue": liquidated["venue"].address,
            "gas_ceiling": ceiling,
            "recovery_executor": liquidated["demo"].address("recovery_executor"),
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    return RecoveryPlan.objects.get(pk=reply.json()["id"])


def fund_and_approve(w3: Web3, deployer, timelock: str, plan: RecoveryPlan, *, short: int = 0) -> None:
    """Mint the executor what the rows need (less ``short``) and approve the plan from the timelock."""
    from chain.transact import wait_for
    from recovery import plans

    plan_asset = plan.assets.get()
    executor = bind(w3, "RecoveryExecutor", plan.recovery_executor)
    asset = bind(w3, "DemoAsset", plan_asset.payout_token)
    send(w3, deployer, asset.functions.mint(plan.recovery_executor, int(plan_asset.total_allocated) - short))
    tx_hash = executor.functions.approvePlan(
        int(plan_asset.onchain_plan_id),
        plans.incident_key(plan.incident.chain_id, plan.incident_id),
        plan.version,
        plan_asset.commitment_root,
        plan_asset.payout_token,
        plans.EXECUTOR_MODES[plan.mode],
        plans.EXECUTOR_DELIVERIES[plan.delivery],
        plan_asset.batches.count(),
        int(plan_asset.budget),
        0,
    ).transact({"from": timelock})
    wait_for(w3, tx_hash)


def rows_of(plan: RecoveryPlan) -> list[tuple[int, dict[str, str]]]:
    return [
        (batch.index, row)
        for batch in MigrationBatch.objects.filter(plan_asset__plan=plan).order_by("index")
        for row in batch.positions
    ]


def assert_restored_as_at_the_rollback_block(liquidated, plan: RecoveryPlan) -> None:
    """Every row's account on the venue: its rollback entry, the funding it owed then carried over."""
    before = _book(liquidated["market"], liquidated["accounts"], liquidated["rollback"])
    venue = liquidated["venue"]
    index = venue.functions.fundingIndex().call()
    rows = rows_of(plan)
    assert rows
    for _, row in rows:
        account = row["account"]
        collateral, debt, size, entry_price, margin, entry_funding = venue.functions.accountOf(account).call()
        assert (collateral, debt, size, entry_price, margin) == before[account][:5]
        assert index - entry_funding == int(row["funding_debt"])
        old_entry_funding = before[account][5]
        assert int(row["funding_debt"]) == (FUNDING_BEFORE - old_entry_funding if size else 0)
    assert any(int(row["funding_debt"]) for _, row in rows)


def batch_executed_counts(w3: Web3, plan: RecoveryPlan, from_block: int) -> dict[int, int]:
    contract = bind(w3, "RecoveryExecutor", plan.recovery_executor)
    plan_id = int(plan.assets.get().onchain_plan_id)
    counts: dict[int, int] = {}
    for entry in contract.events.BatchExecuted.get_logs(from_block=from_block, argument_filters={"planId": plan_id}):
        counts[entry.args.batchIndex] = counts.get(entry.args.batchIndex, 0) + 1
    return counts


def restored_counts(liquidated, from_block: int) -> dict[str, int]:
    """How many times each account was restored on the venue (AccountUpdated, reason restored)."""
    counts: dict[str, int] = {}
    for entry in liquidated["venue"].events.AccountUpdated.get_logs(from_block=from_block):
        if entry.args.reason == 7:
            counts[entry.args.account] = counts.get(entry.args.account, 0) + 1
    return counts


def executor_asset(w3: Web3, liquidated) -> int:
    asset = bind(w3, "DemoAsset", liquidated["market"].functions.asset().call())
    return asset.functions.balanceOf(liquidated["demo"].address("recovery_executor")).call()


def _wait_for_run(run_id: int, *, seconds: float = 120) -> ExecutionRun:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = ExecutionRun.objects.get(pk=run_id)
        if run.status in (ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED, ExecutionRunStatus.PAUSED):
            return run
        time.sleep(0.2)
    return ExecutionRun.objects.get(pk=run_id)


# --- through a real worker ---


@pytest.mark.django_db(transaction=True)
def test_a_restore_positions_plan_runs_through_a_real_worker_restoring_each_position_once(
    w3, liquidated, deployer, timelock, executor_account, depth, celery_worker
):
    from_block = w3.eth.block_number + 1
    held_before = executor_asset(w3, liquidated)
    plan = build_plan(w3, liquidated)
    plan_asset = plan.assets.get()
    assert plan_asset.batches.count() > 1
    fund_and_approve(w3, deployer, timelock, plan)

    reply = _client(executor=True).post(reverse("plan-execution", args=[plan.pk]), {}, format="json")
    assert reply.status_code == 201, reply.content
    run = _wait_for_run(reply.json()["id"])

    assert run.status == ExecutionRunStatus.COMPLETED, list(ExecutionEvent.objects.values_list("message", flat=True))
    assert_restored_as_at_the_rollback_block(liquidated, plan)
    batches = plan_asset.batches.count()
    assert batch_executed_counts(w3, plan, from_block) == dict.fromkeys(range(batches), 1)
    assert restored_counts(liquidated, from_block) == {row["account"]: 1 for _, row in rows_of(plan)}
    # The market pulled exactly collateral plus margin of every row from the executor.
    assert executor_asset(w3, liquidated) == held_before
    sends = list(BatchSend.objects.filter(run=run))
    assert len(sends) == batches and all(s.state == BatchSendState.CONFIRMED for s in sends)
    assert len({s.nonce for s in sends}) == batches == SentTransaction.objects.filter(batch_send__run=run).count()
    # The feed names the accounts each batch restored, from the venue's AccountUpdated logs.
    restored = ExecutionEvent.objects.filter(run=run, kind="restored").order_by("data__index")
    by_batch = {e.data["index"]: e.data["accounts"] for e in restored}
    assert by_batch == {
        b.index: [r["account"] for r in b.positions] for b in MigrationBatch.objects.filter(plan_asset=plan_asset)
    }
    assert not ExecutionEvent.objects.filter(run=run, kind__in=["restore_mismatch", "credited"]).exists()

    detail = APIClient().get(reverse("execution", args=[run.pk])).json()
    assert (detail["mode"], detail["venue"]) == ("restore_positions", liquidated["venue"].address)
    assert detail["progress"]["accounts_paid"] == detail["progress"]["accounts_total"] == len(rows_of(plan))
    assert int(detail["progress"]["amount_paid"]) == int(plan_asset.total_allocated)


# --- refused before anything is signed ---


@pytest.mark.django_db
@pytest.mark.parametrize("cause", ["no_restorer_role", "underfunded", "account_not_empty"])
def test_a_venue_that_would_refuse_the_restore_is_refused_at_start_with_nothing_signed(
    cause, w3, liquidated, deployer, timelock, executor_account, depth
):
    from chain.demo import holder_account
    from chain.transact import wait_for

    plan = build_plan(w3, liquidated)
    plan_asset = plan.assets.get()
    fund_and_approve(w3, deployer, timelock, plan, short=1 if cause == "underfunded" else 0)
    venue = liquidated["venue"]
    first = rows_of(plan)[-1][1]["account"]  # in the last batch: every batch is checked, not the next one
    if cause == "no_restorer_role":
        role = venue.functions.RESTORER_ROLE().call()
        wait_for(w3, venue.functions.revokeRole(role, plan.recovery_executor).transact({"from": timelock}))
    elif cause == "account_not_empty":
        index = liquidated["accounts"].index(first)
        holder = holder_account(index)
        asset = bind(w3, "DemoAsset", venue.functions.asset().call())
        send(w3, deployer, asset.functions.mint(holder.address, 5))
        send(w3, holder, asset.functions.approve(venue.address, 5))
        send(w3, holder, venue.functions.depositCollateral(5))
    nonce = w3.eth.get_transaction_count(executor_account.address)

    reply = _client(executor=True).post(reverse("plan-execution", args=[plan.pk]), {}, format="json")

    assert reply.status_code == 409, reply.content
    error = reply.json()["error"]
    assert error["code"] == "venue_refuses_restore"
    message = error["message"]
    if cause == "no_restorer_role":
        assert "RESTORER_ROLE" in message and plan.recovery_executor in message
    elif cause == "underfunded":
        assert str(int(plan_asset.total_allocated)) in message and error["detail"]["free"] == str(
            int(plan_asset.total_allocated) - 1
        )
    else:
        assert first in message and "AccountNotEmpty" in message and error["detail"]["account"] == first
    assert ExecutionRun.objects.get(plan_asset=plan_asset).status == ExecutionRunStatus.READY
    assert not BatchSend.objects.exists() and not SentTransaction.objects.exists()
    assert w3.eth.get_transaction_count(executor_account.address) == nonce


@pytest.mark.django_db
def test_starting_a_restore_needs_the_executor_role(w3, liquidated, deployer, timelock, depth):
    plan = build_plan(w3, liquidated)
    fund_and_approve(w3, deployer, timelock, plan)
    reply = _client(committee=True).post(reverse("plan-execution", args=[plan.pk]), {}, format="json")
    assert reply.status_code == 403 and reply.json()["error"]["detail"]["role"] == "executor"
    assert not ExecutionRun.objects.filter(status=ExecutionRunStatus.RUNNING).exists()
    assert not BatchSend.objects.exists()


# --- verification read-back and the pages ---


@pytest.mark.django_db
def test_verification_reads_every_position_back_and_flags_one_changed_on_the_venue_afterwards(
    w3, liquidated, deployer, timelock, executor_account, depth
):
    from chain.demo import holder_account
    from recovery.verification import COMPLETE, INCOMPLETE, MISMATCH, report_json, report_markdown, verify_plan

    plan = build_plan(w3, liquidated)
    plan_asset = plan.assets.get()
    fund_and_approve(w3, deployer, timelock, plan)
    run = execution.start_plan_execution(plan_id=plan.pk, actor=None, via="cli", w3=w3)
    first = BatchSend.objects.get(run=run, index=0)
    execution.send_batch(batch_send_id=first.pk, w3=w3)

    # One batch run: the others are not restored yet.
    partial = verify_plan(plan.pk)
    (item,) = partial.assets
    assert partial.verdict == INCOMPLETE and item.batches_executed == [0]
    statuses = {line.account: line.status for line in item.positions}
    first_rows = MigrationBatch.objects.get(plan_asset=plan_asset, index=0).positions
    assert {a for a, s in statuses.items() if s == "ok"} == {r["account"] for r in first_rows}
    assert {s for a, s in statuses.items() if a not in {r["account"] for r in first_rows}} == {"not_restored"}

    for batch_send in BatchSend.objects.filter(run=run, state=BatchSendState.PENDING).order_by("index"):
        execution.send_batch(batch_send_id=batch_send.pk, w3=w3)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED

    report = verify_plan(plan.pk)
    (item,) = report.assets
    rows = rows_of(plan)
    assert report.verdict == COMPLETE and not item.problems
    assert item.venue == liquidated["venue"].address and item.mode == "restore_positions"
    assert [line.account for line in item.positions] == sorted((r["account"] for _, r in rows), key=str.lower)
    assert all(line.status == "ok" and not line.differs and line.transaction for line in item.positions)
    assert item.batches_executed == list(range(plan_asset.batches.count()))
    assert item.totals["paid"] == item.totals["allocated"] == int(plan_asset.total_allocated)
    assert item.totals["owed"] == 0

    # The API's JSON and Markdown say the same.
    data = APIClient().get(reverse("plan-verification", args=[plan.pk])).json()
    positions = data["assets"][0]["positions"]
    assert data["verdict"] == "complete" and len(positions) == len(rows)
    by_account = {p["account"]: p for p in positions}
    for index, row in rows:
        shown = by_account[row["account"]]
        assert shown["status"] == "ok" and shown["batch_index"] == index
        assert shown["expected"] == {k: v for k, v in row.items() if k != "account"} == shown["actual"]

    # The account then deposits on the venue by itself: the read-back no longer matches its row.
    changed = rows[0][1]["account"]
    holder = holder_account(liquidated["accounts"].index(changed))
    venue = liquidated["venue"]
    asset = bind(w3, "DemoAsset", venue.functions.asset().call())
    send(w3, deployer, asset.functions.mint(holder.address, 777))
    send(w3, holder, asset.functions.approve(venue.address, 777))
    send(w3, holder, venue.functions.depositCollateral(777))

    report = verify_plan(plan.pk)
    (item,) = report.assets
    assert report.verdict == MISMATCH
    lines = {line.account: line for line in item.positions}
    assert lines[changed].status == "mismatch" and lines[changed].differs == ["collateral"]
    assert lines[changed].actual["collateral"] == int(rows[0][1]["collateral"]) + 777
    assert all(line.status == "ok" for account, line in lines.items() if account != changed)
    assert len(item.problems) == 1 and changed in item.problems[0] and "collateral" in item.problems[0]
    shown = {p["account"]: p for p in report_json(report)["assets"][0]["positions"]}[changed]
    assert shown["differs"] == ["collateral"] and shown["actual"]["collateral"] == str(
        int(rows[0][1]["collateral"]) + 777
    )
    markdown = report_markdown(report)
    assert f"| `{changed}` | mismatch |" in markdown
    assert f"{int(rows[0][1]['collateral']) + 777} (plan: {rows[0][1]['collateral']})" in markdown

    # The pages: the run shows positions restored, the verification page each position.
    client = APIClient()
    client.force_login(UserFactory(executor=True))
    page = client.get(reverse("executor-run", args=[run.pk])).content.decode()
    assert "positions restored" in page and venue.address in page
    assert "accounts paid" not in page
    page = client.get(reverse("executor-verification", args=[plan.pk])).content.decode()
    assert page.count('data-testid="verified-position"') == len(rows)
    for _, row in rows:
        assert row["account"] in page and row["size"] in page and row["funding_debt"] in page
    assert 'data-testid="position-mismatch"' in page and "collateral" in page


# --- a worker killed mid-batch ---


@pytest.fixture(scope="module")
def databases(anvil):
    from tests.recovery.workers import migrated_databases

    with migrated_databases(anvil.url) as dbs:
        yield dbs


@pytest.mark.chain
@pytest.mark.faults
def test_a_worker_killed_after_broadcasting_a_batch_leaves_every_position_restored_exactly_once(
    w3, liquidated, deployer, timelock, executor_account, anvil, databases, tmp_path, django_db_blocker, depth
):
    from tests.recovery.test_execution_worker_faults import (
        assert_nonces_unique_and_gapless,
        clear_unacked_on_redis,
        harness,
        unacked_on_redis,
        wait_killed,
    )
    from tests.recovery.workers import REDIS_URL, manage, wait_for

    with harness(databases, tmp_path, anvil.url, REDIS_URL, django_db_blocker) as h:
        try:
            from_block = w3.eth.block_number + 1
            nonce_before = w3.eth.get_transaction_count(executor_account.address)
            held_before = executor_asset(w3, liquidated)
            plan = build_plan(w3, liquidated)
            plan_asset = plan.assets.get()
            batches = plan_asset.batches.count()
            assert batches > 1
            fund_and_approve(w3, deployer, timelock, plan)

            armed = h.worker(failpoints="after_broadcast")
            manage(["plan", "execute", "--plan", str(plan.pk)], env=h.env())
            wait_killed(h, armed)
            run = ExecutionRun.objects.get(plan_asset=plan_asset)
            assert run.status == ExecutionRunStatus.RUNNING
            assert BatchSend.objects.filter(run=run, state=BatchSendState.SENT).count() == 1

            h.worker()

            def completed() -> bool:
                return ExecutionRun.objects.get(pk=run.pk).status == ExecutionRunStatus.COMPLETED

            wait_for(completed, timeout=120, what="the run's completion", logs=h.all_logs)

            assert_restored_as_at_the_rollback_block(liquidated, plan)
            assert batch_executed_counts(w3, plan, from_block) == dict.fromkeys(range(batches), 1)
            assert restored_counts(liquidated, from_block) == {row["account"]: 1 for _, row in rows_of(plan)}
            assert executor_asset(w3, liquidated) == held_before
            assert all(s.state == BatchSendState.CONFIRMED for s in BatchSend.objects.filter(run=run))
            assert_nonces_unique_and_gapless(w3, executor_account.address, from_block, nonce_before)
            # Each batch's restored accounts are in the feed once, the killed worker's batch included.
            restored = ExecutionEvent.objects.filter(run=run, kind="restored")
            assert sorted(e.data["index"] for e in restored) == list(range(batches))
            # The killed worker's message was never redelivered: the start-up pass finished its batch.
            assert unacked_on_redis(REDIS_URL) >= 1
        finally:
            h.stop_all()
            clear_unacked_on_redis(REDIS_URL)


@pytest.mark.django_db
def test_an_account_filled_on_the_venue_mid_run_pauses_the_run_until_it_is_empty_again(
    w3, liquidated, deployer, timelock, executor_account, depth
):
    """restorePositions reverts AccountNotEmpty: the batch is not sent, the run pauses naming the
    account, reconciliation leaves it paused while the venue would refuse and resumes it once not."""
    from chain.demo import holder_account
    from recovery import execution_reconcile

    from_block = w3.eth.block_number + 1
    plan = build_plan(w3, liquidated)
    plan_asset = plan.assets.get()
    fund_and_approve(w3, deployer, timelock, plan)
    run = execution.start_plan_execution(plan_id=plan.pk, actor=None, via="cli", w3=w3)
    last = plan_asset.batches.count() - 1
    account = MigrationBatch.objects.get(plan_asset=plan_asset, index=last).positions[0]["account"]
    holder = holder_account(liquidated["accounts"].index(account))
    venue = liquidated["venue"]
    asset = bind(w3, "DemoAsset", venue.functions.asset().call())
    send(w3, deployer, asset.functions.mint(holder.address, 5))
    send(w3, holder, asset.functions.approve(venue.address, 5))
    send(w3, holder, venue.functions.depositCollateral(5))

    for batch_send in BatchSend.objects.filter(run=run).order_by("index"):
        execution.send_batch(batch_send_id=batch_send.pk, w3=w3)

    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED and run.paused_by_system
    assert account in run.pause_reason and "AccountNotEmpty" in run.pause_reason
    blocked = BatchSend.objects.get(run=run, index=last)
    assert blocked.state == BatchSendState.PENDING and not blocked.tx_hash
    assert not SentTransaction.objects.filter(batch_send=blocked).exists()
    execution_reconcile.reconcile_executions(w3=w3)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED  # the venue would still refuse: no pause-fail loop

    send(w3, holder, venue.functions.withdrawCollateral(5))
    report = execution_reconcile.reconcile_executions(w3=w3)
    assert report.resumed == [run.pk]
    execution.send_batch(batch_send_id=blocked.pk, w3=w3)

    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED
    assert_restored_as_at_the_rollback_block(liquidated, plan)
    assert batch_executed_counts(w3, plan, from_block) == dict.fromkeys(range(last + 1), 1)
