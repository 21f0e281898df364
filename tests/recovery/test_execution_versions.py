"""Execution through plan versions and refused recipients: a second version approved mid-run, a
blocklisted recipient with and without the claimable fallback.

Real anvil, the real RecoveryExecutor and test tokens (``contracts/src/test/``), and a real
Celery worker on the broker. Every payment is checked on chain (``chain/payouts.py``, balances,
``verify_plan``), never from the database alone.
"""

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import OperationalError
from django.urls import reverse
from eth_utils import keccak
from rest_framework.test import APIClient
from web3 import Web3

from chain.artifacts import bind, factory
from chain.demo import fund_recovery_executor, holder_account
from chain.errors import Reverted
from chain.payouts import PUSHED, plan_payments
from chain.transact import reverts_as_chain_errors, send
from recovery import execution, execution_reconcile, plans
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.models import (
    Allocation,
    AnalysisStatus,
    BatchSend,
    BatchSendState,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    ImpactAnalysis,
    MigrationBatch,
    PlanAsset,
    RecoveryPlan,
    SentTransaction,
)
from recovery.verification import verify_plan
from tests.factories import IncidentFactory, UserFactory, analysed_exploit
from tests.recovery.test_execution_helpers import approve, make_approved_plan, make_plan
from tests.recovery.test_plans import approve_on_chain

RESTITUTE, PUSH, PUSH_FALLBACK = 0, 0, 1


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    settings.EXECUTION_REQUEUE_AFTER_SECONDS = 3
    return settings


def _wait(predicate: Callable[[], bool], *, w3: Web3, seconds: float = 60) -> bool:
    """Poll ``predicate``; while it stays false, run the periodic reconciliation pass every few seconds.

    That pass is how production recovers a lost message (it re-enqueues pending batches of a
    running run). Here it matters because the in-process worker's result backend can fail on the
    test's in-memory SQLite ("database table is locked") before a task's body runs, which loses
    that message. A pass that meets the lock itself is skipped, as a periodic one would be.
    """
    deadline = time.monotonic() + seconds
    nudge_at = time.monotonic() + 5
    while time.monotonic() < deadline:
        if predicate():
            return True
        if time.monotonic() >= nudge_at:
            nudge_at = time.monotonic() + 5
            with contextlib.suppress(OperationalError):
                execution_reconcile.reconcile_executions(w3=w3)
        time.sleep(0.2)
    return predicate()


def _messages(run: ExecutionRun) -> list[str]:
    return list(ExecutionEvent.objects.filter(run=run).values_list("message", flat=True))


def _run_is(run_id: int, *statuses: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            run = ExecutionRun.objects.get(pk=run_id)
            active = BatchSend.objects.filter(run=run, state__in=execution.ACTIVE_STATES).exists()
        except OperationalError:  # the worker's write holds the in-memory SQLite's table lock: ask again
            return False
        return run.status in statuses and not active

    return check


def _token_balances(w3: Web3, token: str, accounts) -> dict[str, int]:
    erc20 = bind(w3, "DemoAsset", token)
    return {account: int(erc20.functions.balanceOf(account).call()) for account in accounts}


# --- A second version approved after the first paid part of its batches ----------------------


@pytest.mark.django_db(transaction=True)
def test_a_second_version_approved_mid_run_stops_the_first_cleanly_and_everyone_is_paid_in_full_once(
    anvil, w3, demo, exploited, deployer, timelock, chain_settings, depth, celery_worker
):
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited)
    first = plans.build_plan(
        analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push", gas_ceiling=250_000
    )
    first_asset = first.assets.get()
    token, executor_address = first_asset.payout_token, demo.address("recovery_executor")
    claims = {
        account: int(amount)
        for account, amount in Allocation.objects.filter(plan_asset=first_asset).values_list("account", "amount")
        if int(amount) > 0
    }
    totals = sorted(
        int(t) for t in MigrationBatch.objects.filter(plan_asset=first_asset).values_list("total", flat=True)
    )
    assert len(totals) >= 3, totals
    # Funds for about half the batches: at least the largest (one batch always runs), less than
    # all of them (one never does), whatever order the worker takes them in. The run pauses
    # itself when the next batch does not fit (ReservedFunds): version 1 "paid half".
    funded = max(totals[-1], sum(totals[: len(totals) // 2]))
    assert int(bind(w3, "DemoAsset", token).functions.balanceOf(executor_address).call()) <= funded
    fund_recovery_executor(w3, demo, deployer=deployer, token=token, amount=funded)
    approve_on_chain(w3, demo, timelock, first_asset)
    before = _token_balances(w3, token, claims)
    executor_user = UserFactory(executor=True)

    run1 = execution.start_plan_execution(plan_id=first.pk, actor=executor_user, via="api", w3=w3)
    assert _wait(_run_is(run1.pk, ExecutionRunStatus.PAUSED), w3=w3), _messages(run1)
    run1.refresh_from_db()
    assert run1.paused_by_system and "holds only" in run1.pause_reason
    paid_by_v1 = set(BatchSend.objects.filter(run=run1, state="confirmed").values_list("index", flat=True))
    assert 1 <= len(paid_by_v1) < len(totals)

    # Version 2, built from what the chain says version 1 paid, funded and approved: it supersedes v1.
    second = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push")
    assert second.version == 2
    second_asset = second.assets.get()
    held = int(bind(w3, "DemoAsset", token).functions.balanceOf(executor_address).call())
    fund_recovery_executor(w3, demo, deployer=deployer, token=token, amount=held + int(second_asset.total_allocated))
    approve_on_chain(w3, demo, timelock, second_asset)

    # The contract now refuses v1's remaining batches.
    left = BatchSend.objects.filter(run=run1, state=BatchSendState.PENDING).order_by("index").first()
    with pytest.raises(Reverted) as refused:
        reverts_as_chain_errors(
            lambda: w3.eth.estimate_gas(
                {"from": left.sender, "to": executor_address, "data": execution.batch_calldata(run1, left, w3=w3)}
            )
        )
    assert refused.value.error == "PlanSuperseded"

    # An executor resumes v1 (say, after the top-up): the worker finds it superseded and stops it.
    sent_before = SentTransaction.objects.filter(batch_send__run=run1).count()
    execution.resume_execution(run_id=run1.pk, actor=executor_user, via="api")
    assert _wait(_run_is(run1.pk, ExecutionRunStatus.CANCELLED), w3=w3), _messages(run1)
    superseded = ExecutionEvent.objects.get(run=run1, kind="superseded")
    assert "superseded by version 2 on chain" in superseded.message
    assert superseded.data["current_version"] == 2
    assert sorted(superseded.data["batches_not_sent"]) == sorted(set(range(len(totals))) - paid_by_v1)
    assert not BatchSend.objects.filter(run=run1, state=BatchSendState.FAILED).exists()
    assert set(BatchSend.objects.filter(run=run1, state="confirmed").values_list("index", flat=True)) == paid_by_v1
    assert SentTransaction.objects.filter(batch_send__run=run1).count() == sent_before  # nothing more sent
    api = APIClient().get(reverse("execution", args=[run1.pk])).json()
    assert api["status"] == "cancelled" and api["progress"]["failures"] == []

    run2 = execution.start_plan_execution(plan_id=second.pk, actor=executor_user, via="api", w3=w3)
    assert _wait(_run_is(run2.pk, ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED), w3=w3), _messages(run2)
    run2.refresh_from_db()
    assert run2.status == ExecutionRunStatus.COMPLETED, _messages(run2)

    # On chain: across both versions every account got exactly its claim, each from one payment.
    payments = plan_payments(
        w3,
        recovery_executor=executor_address,
        plan_ids=[int(first_asset.onchain_plan_id), int(second_asset.onchain_plan_id)],
        token=token,
        mode=RESTITUTE,
        from_block=analysis.reference_block,
    )
    assert all(p.kind == PUSHED for p in payments)
    assert Counter(p.account for p in payments) == Counter(dict.fromkeys(claims, 1))  # nobody paid twice
    paid: dict[str, int] = {}
    for payment in payments:
        paid[payment.account] = paid.get(payment.account, 0) + payment.amount
    assert paid == claims
    after = _token_balances(w3, token, claims)
    assert {account: after[account] - before[account] for account in claims} == claims
    assert verify_plan(second.pk).verdict == "complete"
    first_report = verify_plan(first.pk)
    assert first_report.verdict == "incomplete"
    assert first_report.totals["owed"] == int(second_asset.total_allocated)


@pytest.mark.django_db
def test_a_paused_run_whose_plan_was_superseded_is_cancelled_by_reconciliation_not_left_paused(
    w3, demo, deployer, timelock, chain_settings, depth
):
    first = make_approved_plan(w3, demo, deployer, timelock)
    run = execution.start_plan_execution(plan_id=first.plan.pk, actor=None, via="cli", w3=w3)
    execution.send_batch(batch_send_id=BatchSend.objects.get(run=run, index=0).pk, w3=w3)
    execution.pause_execution(run_id=run.pk, actor=None, via="cli")
    second = make_plan(w3, demo, incident=first.plan.incident, version=2, salt=1)
    approve(w3, demo, deployer, timelock, second, version=2)

    report = execution_reconcile.reconcile_executions(w3=w3)

    assert report.superseded == [run.pk] and report.resumed == []
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.CANCELLED and run.finished_at is not None
    event = ExecutionEvent.objects.get(run=run, kind="superseded")
    assert event.data["batches_not_sent"] == [1, 2, 3]
    states = dict(BatchSend.objects.filter(run=run).values_list("index", "state"))
    assert states == {0: "confirmed", 1: "pending", 2: "pending", 3: "pending"}
    assert execution_reconcile.reconcile_executions(w3=w3).superseded == []  # once


# --- Refused recipients -------------------------------------------------------------------------


@dataclass
class TokenPlan:
    plan: RecoveryPlan
    plan_asset: PlanAsset
    token: object  # the bound test token
    batches: list[Batch]
    blocked: str

    @property
    def payments(self) -> dict[str, int]:
        return {r: a for b in self.batches for r, a in zip(b.recipients, b.amounts, strict=True)}


def _approved_token_plan(w3: Web3, demo, deployer, timelock: str, *, token_name: str, delivery: str) -> TokenPlan:
    """A restitute plan paying a test token (two batches of three; batch 0's second recipient blocked),
    written as rows (``build_plan`` needs the payout token to be an analysed asset's peer), funded and approved."""
    receipt = send(w3, deployer, factory(w3, token_name).constructor(deployer.address, 6))
    token = bind(w3, token_name, receipt["contractAddress"])
    executor = demo.address("recovery_executor")
    incident = IncidentFactory(chain_id=demo.chain_id)
    analysis = ImpactAnalysis.objects.create(
        incident=incident, rollback_block=0, reference_block=w3.eth.block_number, status=AnalysisStatus.COMPLETED
    )
    plan = RecoveryPlan.objects.create(
        incident=incident,
        analysis=analysis,
        version=1,
        mode="restitute",
        policy="full",
        status="committed",
        delivery=delivery,
        recovery_executor=executor,
    )
    accounts = [holder_account(420 + i).address for i in range(6)]
    amounts = [1_000_000 * (i + 1) + i for i in range(6)]
    batches = [Batch(i, tuple(accounts[3 * i : 3 * i + 3]), tuple(amounts[3 * i : 3 * i + 3])) for i in range(2)]
    plan_id = plans.onchain_plan_id(chain_id=demo.chain_id, plan_id=plan.pk, asset=token.address)
    tree = build_commitment(batches, domain=CommitmentDomain(demo.chain_id, executor, plan_id))
    total = sum(amounts)
    plan_asset = PlanAsset.objects.create(
        plan=plan,
        asset=token.address,
        payout_token=token.address,
        budget=total,
        total_claims=total,
        total_allocated=total,
        commitment_root=tree.root,
        onchain_plan_id=plan_id,
    )
    for batch in batches:
        MigrationBatch.objects.create(
            plan_asset=plan_asset,
            index=batch.index,
            recipients=list(batch.recipients),
            amounts=[str(a) for a in batch.amounts],
            total=batch.total,
            leaf_hash="0x",
            gas_estimate=300_000,
        )
    Allocation.objects.bulk_create(
        Allocation(
            plan_asset=plan_asset,
            account=account,
            claim=amount,
            amount=amount,
            leaf_index=i,
            tree_index=i,
            batch_index=i // 3,
        )
        for i, (account, amount) in enumerate(zip(accounts, amounts, strict=True))
    )
    blocked = batches[0].recipients[1]
    send(w3, deployer, token.functions.mint(executor, total))
    send(w3, deployer, token.functions.setBlocked(blocked, True))
    contract = bind(w3, "RecoveryExecutor", executor)
    reverts_as_chain_errors(
        lambda: contract.functions.approvePlan(
            plan_id,
            keccak(text=f"lifeboat-versions-test-{incident.pk}"),
            1,
            bytes.fromhex(tree.root[2:]),
            token.address,
            RESTITUTE,
            PUSH_FALLBACK if delivery == "push_fallback" else PUSH,
            len(batches),
            total,
            0,
        ).transact({"from": timelock})
    )
    return TokenPlan(plan, plan_asset, token, batches, blocked)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("token_name", ["BlockingToken", "RefusingToken"])
def test_a_refused_recipient_is_credited_the_batch_lands_and_the_credit_is_claimed_later(
    w3, demo, deployer, timelock, chain_settings, depth, celery_worker, token_name
):
    paying = _approved_token_plan(w3, demo, deployer, timelock, token_name=token_name, delivery="push_fallback")
    token, blocked, executor = paying.token, paying.blocked, demo.address("recovery_executor")
    contract = bind(w3, "RecoveryExecutor", executor)
    before = _token_balances(w3, token.address, paying.payments)

    run = execution.start_plan_execution(plan_id=paying.plan.pk, actor=None, via="cli", w3=w3)
    assert _wait(_run_is(run.pk, ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED), w3=w3), _messages(run)
    run.refresh_from_db()

    assert run.status == ExecutionRunStatus.COMPLETED, _messages(run)
    assert set(BatchSend.objects.filter(run=run).values_list("state", flat=True)) == {"confirmed"}
    after = _token_balances(w3, token.address, paying.payments)
    owed = paying.payments[blocked]
    assert {a: after[a] - before[a] for a in after} == {**paying.payments, blocked: 0}
    assert contract.functions.credited(token.address, blocked).call() == owed
    assert contract.functions.reserved(token.address).call() == owed
    (credited,) = ExecutionEvent.objects.filter(run=run, kind="credited")
    assert credited.data["account"] == blocked and credited.data["amount"] == str(owed)
    assert credited.data["index"] == 0 and "claimCredit" in credited.message
    feed = APIClient().get(reverse("execution-events", args=[run.pk])).json()["events"]
    assert any(e["kind"] == "credited" and blocked in e["message"] for e in feed)

    report = verify_plan(paying.plan.pk)
    assert report.verdict == "complete"  # a credit is paid by the plan; the tokens wait for their owner
    line = next(line for line in report.assets[0].accounts if line.account == blocked)
    assert (line.status, line.credited, line.claimable, line.pushed) == ("credited", owed, owed, 0)
    assert report.totals["claimable"] == owed

    send(w3, deployer, token.functions.setBlocked(blocked, False))
    send(w3, deployer, contract.functions.claimCredit(token.address, blocked))  # anyone may, for the account

    assert int(token.functions.balanceOf(blocked).call()) - before[blocked] == owed
    assert contract.functions.credited(token.address, blocked).call() == 0
    report = verify_plan(paying.plan.pk)
    line = next(line for line in report.assets[0].accounts if line.account == blocked)
    assert report.verdict == "complete" and (line.status, line.claimable) == ("paid", 0)
    assert report.totals["claimable"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("token_name", "reason"), [("BlockingToken", "AccountBlocked"), ("RefusingToken", "SafeERC20FailedOperation")]
)
def test_a_strict_push_batch_with_a_refused_recipient_fails_with_the_decoded_reason_and_pays_none_of_it(
    w3, demo, deployer, timelock, chain_settings, depth, celery_worker, token_name, reason
):
    paying = _approved_token_plan(w3, demo, deployer, timelock, token_name=token_name, delivery="push")
    token, blocked = paying.token, paying.blocked
    before = _token_balances(w3, token.address, paying.payments)

    run = execution.start_plan_execution(plan_id=paying.plan.pk, actor=None, via="cli", w3=w3)
    assert _wait(_run_is(run.pk, ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED), w3=w3), _messages(run)
    run.refresh_from_db()

    assert run.status == ExecutionRunStatus.FAILED
    failed = BatchSend.objects.get(run=run, index=0)
    assert failed.state == BatchSendState.FAILED
    assert f"{reason}(" in failed.failure_reason and "refuses the batch" in failed.failure_reason
    assert blocked in failed.failure_reason or reason == "SafeERC20FailedOperation"
    assert not SentTransaction.objects.filter(batch_send=failed).exists()  # refused before signing: no gas spent
    assert BatchSend.objects.get(run=run, index=1).state == BatchSendState.CONFIRMED
    after = _token_balances(w3, token.address, paying.payments)
    expected = dict(zip(paying.batches[1].recipients, paying.batches[1].amounts, strict=True))
    assert {a: after[a] - before[a] for a in after} == {a: expected.get(a, 0) for a in after}
    assert ExecutionEvent.objects.filter(run=run, kind="batch_failed").count() == 1  # once, not a retry loop
    reply = APIClient().get(reverse("execution", args=[run.pk]))
    assert reply.status_code == 200
    progress = reply.json()["progress"]
    assert progress["batches_failed"] == 1 and progress["batches_done"] == 1
    assert [f["index"] for f in progress["failures"]] == [0] and reason in progress["failures"][0]["reason"]


# --- A new version while an earlier one can still pay -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_new_version_is_refused_while_an_earlier_one_runs_and_an_earlier_run_cannot_resume_before_it_is_approved(
    anvil, w3, demo, exploited, deployer, timelock, chain_settings, depth
):
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited)
    first = plans.build_plan(
        analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push", gas_ceiling=250_000
    )
    first_asset = first.assets.get()
    fund_recovery_executor(
        w3, demo, deployer=deployer, token=first_asset.payout_token, amount=int(first_asset.total_allocated)
    )
    approve_on_chain(w3, demo, timelock, first_asset)
    executor_user = UserFactory(executor=True)
    # The approval gives a ready run; it is held in *running* (as a worker on another machine would
    # hold it) without a task on the broker, so no worker of this process pays anything meanwhile.
    (run,) = execution.discover_approvals(w3=w3, plan_asset_ids=[first_asset.pk])
    ExecutionRun.objects.filter(pk=run.pk).update(status=ExecutionRunStatus.RUNNING)

    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    answer = client.post(
        reverse("analysis-plans", args=[analysis.pk]),
        {"mode": "restitute", "policy": "full", "delivery": "push"},
        format="json",
    )
    assert answer.status_code == 409, answer.content
    assert answer.json()["error"]["code"] == "earlier_version_executing"
    assert f"execution run {run.pk}" in answer.json()["error"]["message"]
    assert RecoveryPlan.objects.filter(incident=first.incident).count() == 1

    # Paused, version 2 may be built; version 1 may not resume while version 2 is not approved on chain.
    ExecutionRun.objects.filter(pk=run.pk).update(status=ExecutionRunStatus.PAUSED)
    second = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push")
    assert second.version == 2
    with pytest.raises(execution.LaterVersionExists) as refused:
        execution.resume_execution(run_id=run.pk, actor=executor_user, via="api", w3=w3)
    assert "would pay those accounts twice" in refused.value.message
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED
