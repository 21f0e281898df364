"""Faults during execution, simulated in-process by calling the service step by step: crashes at each
failpoint, a stuck transaction, a reorg, two workers on one batch, low gas funds, a nonce gap.

Every test ends by checking the chain: each recipient paid exactly once. The process-level
versions (SIGKILLed worker processes) arm ``LIFEBOAT_FAILPOINTS`` in a real worker instead.
"""

import threading
import time

import pytest
from django.db import OperationalError, connection

from chain import sender as chain_sender
from chain.transact import receipt_of
from recovery import execution
from recovery.execution_errors import SenderBusy
from recovery.execution_reconcile import reconcile_executions
from recovery.models import (
    BatchSend,
    BatchSendState,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    SenderKey,
    SentTransaction,
)
from tests.recovery.test_execution_helpers import balances, make_approved_plan


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    return settings


@pytest.fixture
def started(w3, demo, deployer, timelock, chain_settings, depth):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    before = balances(w3, approved.token, approved.payments)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    return approved, run, before


def _paid_exactly_once(w3, approved, before) -> None:
    after = balances(w3, approved.token, approved.payments)
    assert {a: after[a] - before[a] for a in after} == approved.payments


def _rpc(w3, method, params):
    reply = w3.provider.make_request(method, params)
    assert "error" not in reply, reply
    return reply.get("result")


def _sign_only(w3, batch_send: BatchSend) -> BatchSend:
    """Steps 1-4 of a send, then "the worker dies" (failpoint after_sign): signed and committed, not broadcast."""
    owner = "crashed-worker"
    assert execution.acquire_lease(chain_id=batch_send.run.chain_id, address=batch_send.sender, owner=owner)
    signed = execution._sign_under_lease(batch_send_id=batch_send.pk, w3=w3, owner=owner)
    assert signed is not None and signed.state == BatchSendState.SIGNED
    # The dead worker's lease expires; here it is given back at once.
    execution.release_lease(chain_id=batch_send.run.chain_id, address=batch_send.sender, owner=owner)
    return signed


def _finish(w3, run) -> ExecutionRun:
    for batch_send in BatchSend.objects.filter(run=run, state=BatchSendState.PENDING).order_by("index"):
        execution.send_batch(batch_send_id=batch_send.pk, w3=w3)
    reconcile_executions(w3=w3)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_a_crash_after_signing_is_recovered_by_rebroadcasting_the_same_bytes(w3, started):
    approved, run, before = started
    first = BatchSend.objects.get(run=run, index=0)
    signed = _sign_only(w3, first)
    assert not chain_sender.is_pending(w3, signed.tx_hash)  # never reached the node

    report = reconcile_executions(w3=w3)

    assert report.rebroadcast == [first.pk]
    receipt = chain_sender.receipt(w3, signed.tx_hash)
    assert receipt is not None and receipt["status"] == 1  # the very bytes stored before the crash
    reconcile_executions(w3=w3)
    first.refresh_from_db()
    assert first.state == BatchSendState.CONFIRMED and first.tx_hash == signed.tx_hash
    assert SentTransaction.objects.filter(batch_send=first).count() == 1
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db
@pytest.mark.parametrize("failpoint", ["after_broadcast", "after_receipt"])
def test_a_crash_after_broadcasting_is_recovered_by_finding_the_mined_hash(w3, started, failpoint):
    approved, run, before = started
    first = BatchSend.objects.get(run=run, index=0)
    signed = _sign_only(w3, first)
    execution._broadcast_signed(signed, w3=w3)  # broadcast and *sent* committed; the receipt is never written
    first.refresh_from_db()
    assert first.state == BatchSendState.SENT
    if failpoint == "after_receipt":
        assert chain_sender.find_mined(w3, [first.tx_hash]) is not None  # read, then the worker died

    # The message comes back (acks_late): the task runs again, and reconciliation runs too.
    execution.send_batch(batch_send_id=first.pk, w3=w3)
    reconcile_executions(w3=w3)

    first.refresh_from_db()
    assert first.state == BatchSendState.CONFIRMED and first.tx_hash == signed.tx_hash
    assert SentTransaction.objects.filter(batch_send=first).count() == 1
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db
def test_a_stuck_transaction_is_replaced_at_its_nonce_with_higher_fees_and_exactly_one_lands(w3, started, settings):
    approved, run, before = started
    settings.EXECUTION_RECEIPT_TIMEOUT_SECONDS = 0
    settings.EXECUTION_STUCK_AFTER_SECONDS = 0
    first = BatchSend.objects.get(run=run, index=0)
    _rpc(w3, "evm_setAutomine", [False])
    try:
        execution.send_batch(batch_send_id=first.pk, w3=w3)
        first.refresh_from_db()
        assert first.state == BatchSendState.SENT
        old_hash, old_fees = first.tx_hash, (int(first.max_fee_per_gas), int(first.max_priority_fee_per_gas))

        report = reconcile_executions(w3=w3)

        assert report.replaced == [first.pk]
        first.refresh_from_db()
        assert first.tx_hash != old_hash and first.replacements == 1
        assert int(first.max_fee_per_gas) * 10 >= old_fees[0] * 11
        assert int(first.max_priority_fee_per_gas) * 10 >= old_fees[1] * 11
        hashes = list(SentTransaction.objects.filter(batch_send=first).values_list("tx_hash", "nonce"))
        assert [h for h, _ in hashes] == [old_hash, first.tx_hash]
        assert {n for _, n in hashes} == {first.nonce}
        _rpc(w3, "evm_mine", [])
    finally:
        _rpc(w3, "evm_setAutomine", [True])
    mined = [h for h, _ in hashes if chain_sender.receipt(w3, h) is not None]
    assert mined == [first.tx_hash]  # one of the two, never both
    reconcile_executions(w3=w3)
    first.refresh_from_db()
    assert first.state == BatchSendState.CONFIRMED
    assert ExecutionEvent.objects.filter(run=run, kind="replaced").count() == 1
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db
def test_a_reorg_removing_a_confirmed_batch_sends_it_back_and_nobody_is_paid_twice(w3, started):
    approved, run, before = started
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    last = BatchSend.objects.get(run=run, index=3)
    assert last.block_number == w3.eth.block_number
    old_block_hash = last.block_hash

    _rpc(w3, "anvil_reorg", [1, []])  # the head block, holding batch 3, replaced by an empty one
    assert not chain_sender.is_canonical(w3, last.block_number, old_block_hash)

    report = reconcile_executions(w3=w3)
    assert report.reorged == [last.pk]
    assert ExecutionEvent.objects.filter(run=run, kind="reorg").exists()
    reconcile_executions(w3=w3)  # re-sent (the same bytes) or re-confirmed: the chain decides
    last.refresh_from_db()
    run.refresh_from_db()
    assert last.state == BatchSendState.CONFIRMED and last.block_hash != old_block_hash
    assert chain_sender.is_canonical(w3, last.block_number, last.block_hash)
    assert run.status == ExecutionRunStatus.COMPLETED
    assert SentTransaction.objects.filter(batch_send=last).count() == 1  # never signed again
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_batch_at_once_send_it_once(w3, demo, deployer, timelock, chain_settings, depth):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    before = balances(w3, approved.token, approved.payments)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    batch_send_ids = list(BatchSend.objects.filter(run=run).order_by("index").values_list("pk", flat=True))
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for batch_send_id in batch_send_ids:
                for _ in range(200):  # what the task's autoretry does
                    try:
                        execution.send_batch(batch_send_id=batch_send_id, w3=w3, owner=name)
                        break
                    except (SenderBusy, OperationalError):
                        time.sleep(0.05)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    sends = BatchSend.objects.filter(run=run)
    assert all(s.state == BatchSendState.CONFIRMED for s in sends)
    assert SentTransaction.objects.filter(batch_send__run=run).count() == 4  # one transaction a batch
    assert len(set(SentTransaction.objects.values_list("nonce", flat=True))) == 4  # no nonce used twice
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db
def test_low_gas_funds_pause_the_run_and_a_top_up_resumes_it(w3, started, settings, executor_account):
    approved, run, before = started
    held = w3.eth.get_balance(executor_account.address)
    settings.EXECUTION_MIN_GAS_BALANCE_WEI = held + 1
    first = BatchSend.objects.get(run=run, index=0)

    execution.send_batch(batch_send_id=first.pk, w3=w3)

    run.refresh_from_db()
    first.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED and run.paused_by_system
    assert "EXECUTION_MIN_GAS_BALANCE_WEI" in run.pause_reason and executor_account.address in run.pause_reason
    assert first.state == BatchSendState.PENDING and not first.raw_tx
    reconcile_executions(w3=w3)
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED  # not yet topped up

    _rpc(w3, "anvil_setBalance", [executor_account.address, hex(held + 10**18)])
    report = reconcile_executions(w3=w3)

    assert report.resumed == [run.pk]
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    _paid_exactly_once(w3, approved, before)


@pytest.mark.django_db
def test_a_nonce_taken_in_the_database_and_never_used_is_filled_with_a_self_send(w3, started, executor_account):
    approved, run, before = started
    execution.send_batch(batch_send_id=BatchSend.objects.get(run=run, index=0).pk, w3=w3)
    key = SenderKey.objects.get(address=executor_account.address)
    gap = key.next_nonce
    # A nonce handed out whose transaction will never exist (its batch was settled another way).
    SenderKey.objects.filter(pk=key.pk).update(next_nonce=gap + 1)

    report = reconcile_executions(w3=w3)

    assert report.gaps_filled == [f"{executor_account.address}:{gap}"]
    fill = SentTransaction.objects.get(purpose="gap_fill")
    mined = receipt_of(w3, fill.tx_hash, timeout=30)
    assert fill.nonce == gap and mined is not None and mined["status"] == 1
    assert w3.eth.get_transaction_count(executor_account.address) == gap + 1
    assert _finish(w3, run).status == ExecutionRunStatus.COMPLETED
    assert BatchSend.objects.get(run=run, index=1).nonce == gap + 1
    _paid_exactly_once(w3, approved, before)
