"""Executing an approved plan: found on chain, started by an executor, every batch paid exactly once.

Real anvil, the real RecoveryExecutor, and (end to end) a real Celery worker on the broker.
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from chain.artifacts import bind
from chain.transact import send
from recovery import execution
from recovery.commitment import build_commitment
from recovery.execution_errors import (
    CommitmentMismatch,
    ExecutorContractPaused,
    PlanNotApprovedOnChain,
)
from recovery.models import (
    BatchSend,
    BatchSendState,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    MigrationBatch,
    SentTransaction,
)
from tests.factories import UserFactory
from tests.recovery.test_execution_helpers import balances, make_approved_plan, make_plan


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    return settings


def _executor_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(executor=True))
    return client


def _send_all(run: ExecutionRun, w3) -> None:
    for batch_send in BatchSend.objects.filter(run=run).order_by("index"):
        execution.send_batch(batch_send_id=batch_send.pk, w3=w3)


@pytest.mark.django_db
def test_an_approved_plan_is_found_on_chain_and_runs_once_started_paying_each_recipient_exactly(
    w3, demo, deployer, timelock, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    before = balances(w3, approved.token, approved.payments)

    created = execution.discover_approvals(w3=w3)

    assert [run.plan_asset_id for run in created] == [approved.plan_asset.pk]
    run = created[0]
    assert run.status == ExecutionRunStatus.READY
    assert run.approval_block_hash == "0x" + bytes(w3.eth.get_block(run.approval_block)["hash"]).hex()
    assert execution.discover_approvals(w3=w3) == []  # found once

    executor_user = UserFactory(executor=True)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=executor_user, via="api", w3=w3)
    assert run.status == ExecutionRunStatus.RUNNING and run.started_by == executor_user
    _send_all(run, w3)

    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED
    after = balances(w3, approved.token, approved.payments)
    assert {a: after[a] - before[a] for a in after} == approved.payments
    sends = list(BatchSend.objects.filter(run=run))
    assert all(s.state == BatchSendState.CONFIRMED and s.confirmed_by == "receipt" for s in sends)
    assert all(s.block_hash and s.gas_used and s.nonce is not None for s in sends)
    assert len({s.nonce for s in sends}) == len(sends)
    assert SentTransaction.objects.filter(batch_send__run=run).count() == len(sends)
    started = ExecutionEvent.objects.get(run=run, kind="started")
    assert started.actor == executor_user and started.actor_label == executor_user.get_username()


@pytest.mark.django_db
def test_a_batch_already_executed_on_chain_is_marked_confirmed_and_not_sent_again(
    w3, demo, deployer, timelock, executor_account, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    # Batch 1 run by hand, outside Lifeboat.
    batch = approved.batches[1]
    tree = build_commitment(approved.batches, domain=execution._domain(run))
    contract = bind(w3, "RecoveryExecutor", approved.executor)
    by_hand = send(
        w3,
        executor_account,
        contract.functions.executeBatch(
            int(run.onchain_plan_id), 1, list(batch.recipients), list(batch.amounts), tree.get_proof(1)
        ),
    )
    before = balances(w3, approved.token, approved.payments)

    _send_all(run, w3)

    one = BatchSend.objects.get(run=run, index=1)
    assert one.state == BatchSendState.CONFIRMED and one.confirmed_by == "bitmap"
    assert one.tx_hash == "0x" + bytes(by_hand["transactionHash"]).hex()
    assert one.nonce is None and not one.raw_tx
    assert not SentTransaction.objects.filter(batch_send=one).exists()
    after = balances(w3, approved.token, approved.payments)
    paid_now = {a: after[a] - before[a] for a in after}
    expected = approved.payments
    for recipient, amount in zip(batch.recipients, batch.amounts, strict=True):
        expected[recipient] -= amount
    assert paid_now == expected
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED


@pytest.mark.django_db
def test_starting_a_plan_not_approved_on_chain_is_refused_naming_what_the_chain_says(w3, demo, chain_settings, depth):
    approved = make_plan(w3, demo)
    reply = _executor_client().post(reverse("plan-execution", args=[approved.plan.pk]), {}, format="json")
    assert reply.status_code == 409, reply.content
    assert reply.json()["error"]["code"] == "plan_not_approved_on_chain"
    assert str(approved.plan_asset.onchain_plan_id) in reply.json()["error"]["message"]
    with pytest.raises(PlanNotApprovedOnChain):
        execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)


@pytest.mark.django_db
def test_a_batch_altered_after_approval_is_refused_before_anything_is_signed(
    w3, demo, deployer, timelock, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    row = MigrationBatch.objects.get(plan_asset=approved.plan_asset, index=2)
    row.amounts = [str(int(row.amounts[0]) + 1), *row.amounts[1:]]
    row.save()
    with pytest.raises(CommitmentMismatch, match="altered after approval"):
        execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    assert not BatchSend.objects.exists()


@pytest.mark.django_db
def test_a_paused_executor_contract_is_refused_at_start(
    w3, demo, deployer, timelock, committee_account, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    send(w3, committee_account, bind(w3, "RecoveryExecutor", approved.executor).functions.pause())
    with pytest.raises(ExecutorContractPaused, match="paused by its guardian"):
        execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)


@pytest.mark.django_db
def test_a_user_without_the_executor_role_cannot_start_pause_or_cancel(w3, demo, chain_settings, depth):
    approved = make_plan(w3, demo)
    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    reply = client.post(reverse("plan-execution", args=[approved.plan.pk]), {}, format="json")
    assert reply.status_code == 403
    assert reply.json()["error"]["detail"]["role"] == "executor"
    for action in ("pause", "resume", "cancel"):
        assert client.post(reverse(f"execution-{action}", args=[1]), {}, format="json").status_code == 403


@pytest.mark.django_db
def test_an_executor_key_without_executor_role_is_refused_at_start(
    w3, demo, deployer, timelock, chain_settings, depth, settings
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    settings.EXECUTOR_PRIVATE_KEYS = ["0x" + "42" * 32]
    with pytest.raises(execution.ExecutorKeyLacksRole, match="grantRole"):
        execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)


@pytest.mark.django_db
def test_the_api_starts_pauses_resumes_and_shows_progress(w3, demo, deployer, timelock, chain_settings, depth):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    client = _executor_client()
    reply = client.post(reverse("plan-execution", args=[approved.plan.pk]), {}, format="json")
    assert reply.status_code == 201, reply.content
    run_id = reply.json()["id"]
    assert client.post(reverse("execution-pause", args=[run_id]), {}, format="json").json()["status"] == "paused"
    assert client.post(reverse("execution-pause", args=[run_id]), {}, format="json").status_code == 409
    assert client.post(reverse("execution-resume", args=[run_id]), {}, format="json").json()["status"] == "running"
    _send_all(ExecutionRun.objects.get(pk=run_id), w3)

    detail = APIClient().get(reverse("execution", args=[run_id])).json()
    progress = detail["progress"]
    assert detail["status"] == "completed"
    assert progress["batches_done"] == progress["batches_total"] == 4
    assert progress["accounts_paid"] == 12
    assert int(progress["amount_paid"]) == sum(approved.payments.values())
    assert int(progress["fees_spent_wei"]) > 0 and progress["gas_used"] > 0
    events = APIClient().get(reverse("execution-events", args=[run_id])).json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[:4] == ["approved", "started", "paused", "resumed"]
    after = APIClient().get(reverse("execution-events", args=[run_id]), {"after": events[2]["id"]}).json()["events"]
    assert [e["id"] for e in after] == [e["id"] for e in events[3:]]
    listed = APIClient().get(reverse("executions")).json()
    assert [r["id"] for r in listed["results"]] == [run_id]


@pytest.mark.django_db(transaction=True)
def test_a_plan_is_executed_end_to_end_by_a_real_celery_worker(
    w3, demo, deployer, timelock, chain_settings, depth, celery_worker
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    before = balances(w3, approved.token, approved.payments)

    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    run = _wait_for_run(run.pk)

    assert run.status == ExecutionRunStatus.COMPLETED, list(ExecutionEvent.objects.values_list("message", flat=True))
    after = balances(w3, approved.token, approved.payments)
    assert {a: after[a] - before[a] for a in after} == approved.payments
    sends = BatchSend.objects.filter(run=run)
    assert len({s.nonce for s in sends}) == sends.count() == 4


def _wait_for_run(run_id: int, *, seconds: float = 90) -> ExecutionRun:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = ExecutionRun.objects.get(pk=run_id)
        if run.status in (ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED):
            return run
        time.sleep(0.2)
    return ExecutionRun.objects.get(pk=run_id)


@pytest.mark.django_db
def test_the_cli_executes_shows_status_pauses_and_reconciles_as_the_cli_actor(
    w3, demo, deployer, timelock, chain_settings, depth
):
    import json
    from io import StringIO

    from django.core.management import CommandError, call_command

    approved = make_approved_plan(w3, demo, deployer, timelock)
    out = StringIO()
    call_command("plan", "execute", "--plan", str(approved.plan.pk), stdout=out)
    run = ExecutionRun.objects.get()
    assert f"execution run {run.pk} started" in out.getvalue()
    call_command("plan", "pause", "--run", str(run.pk), stdout=out)
    assert ExecutionEvent.objects.get(run=run, kind="paused").actor_label == "cli"
    with pytest.raises(CommandError, match="only a running run pauses"):
        call_command("plan", "pause", "--run", str(run.pk), stdout=out)
    call_command("plan", "resume", "--run", str(run.pk), stdout=out)
    _send_all(run, w3)
    out = StringIO()
    call_command("plan", "status", "--plan", str(approved.plan.pk), stdout=out)
    assert "4/4 batches, 12/12 accounts" in out.getvalue() and "completed" in out.getvalue()
    out = StringIO()
    call_command("plan", "status", "--plan", str(approved.plan.pk), "--json", stdout=out)
    assert json.loads(out.getvalue())[0]["progress"]["batches_done"] == 4
    out = StringIO()
    call_command("plan", "reconcile", stdout=out)
    assert out.getvalue().startswith("reconciled:")


@pytest.mark.django_db
def test_a_plan_marked_auto_execute_starts_by_itself_when_its_approval_is_found(
    w3, demo, deployer, timelock, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    approved.plan.auto_execute = True
    approved.plan.save()
    [run] = execution.discover_approvals(w3=w3)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.RUNNING and run.auto_started and run.started_by is None
    assert ExecutionEvent.objects.get(run=run, kind="started").actor_label == "system"
