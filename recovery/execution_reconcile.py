"""Reconciliation: the database brought back in line with the chain, which is the ledger.

Run by a periodic task, once when a worker starts (``worker_ready``), and by ``plan reconcile``.
Each pass, in this order:

1. reorgs: a confirmed batch whose block hash is no longer the chain's goes back to *sent*;
2. every *signed* or *sent* batch: mined under any of its hashes -> recorded; the bitmap says it
   ran -> confirmed from its log; *signed* -> the same bytes rebroadcast; *sent* but dropped by
   the node -> rebroadcast; *sent* and stuck past ``EXECUTION_STUCK_AFTER_SECONDS`` -> replaced at
   the same nonce with fees raised by at least 10% (every hash kept; one of them lands);
3. nonce gaps: a nonce the sender row handed out that no transaction known to the node uses
   (below the row's next nonce, at or above the chain's count) is filled with a 0-value self-send,
   so later transactions of the key are not stuck behind it;
4. runs whose plan a later version superseded on chain are cancelled (their pending batches stay
   unsent); runs paused by the system (gas funds low, the contract paused, a restore-positions
   venue refusing) resume once the cause is gone;
5. pending batches of running runs whose message was lost are enqueued again;
6. runs whose batches are all confirmed past ``CONFIRMATION_DEPTH`` complete.

A batch is never signed again while one of its transactions can still be mined: replacements
share its nonce, and only "nonce too low with none of our hashes mined and the bitmap unset"
sends it back to *pending*.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from web3 import Web3

from chain import sender as chain_sender
from chain.artifacts import bind
from recovery import execution
from recovery.models import (
    BatchSend,
    BatchSendState,
    ExecutionRun,
    ExecutionRunStatus,
    SenderKey,
    SentTransaction,
)

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one pass did, by kind (batch send ids; addresses and nonces for gap fills)."""

    reorged: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    rebroadcast: list[int] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    gaps_filled: list[str] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}


def reconcile_executions(*, w3: Web3 | None = None, startup: bool = False, owner: str | None = None) -> ReconcileReport:
    """One reconciliation pass (see the module). ``startup`` re-enqueues every pending batch of a running run."""
    report = ReconcileReport()
    open_runs = ExecutionRun.objects.filter(
        status__in=[ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED, ExecutionRunStatus.COMPLETED]
    )
    active = BatchSend.objects.filter(state__in=execution.ACTIVE_STATES)
    if not open_runs.exists() and not active.exists():
        return report  # nothing to ask the chain about (and a worker starting on an empty database needs no node)
    w3 = w3 or execution.chain_client()
    owner = owner or execution.default_owner()
    _check_reorgs(w3, report)
    for batch_send in BatchSend.objects.filter(state__in=execution.ACTIVE_STATES).select_related("run__plan_asset"):
        _reconcile_batch(batch_send, w3=w3, owner=owner, report=report)
    _fill_nonce_gaps(w3, owner=owner, report=report)
    _stop_superseded_runs(w3, report)
    _resume_system_pauses(w3, report)
    for run in ExecutionRun.objects.filter(status=ExecutionRunStatus.RUNNING):
        report.requeued += execution.enqueue_pending(run, force=startup)
        finished = execution.finish_run_if_done(run, w3=w3)
        if finished.status == ExecutionRunStatus.COMPLETED:
            report.completed.append(run.pk)
    return report


def _check_reorgs(w3: Web3, report: ReconcileReport) -> None:
    lowest = max(chain_sender.head(w3) - settings.EXECUTION_REORG_WINDOW_BLOCKS, 0)
    confirmed = BatchSend.objects.filter(
        state=BatchSendState.CONFIRMED, block_number__gte=lowest, block_hash__gt=""
    ).select_related("run")
    for batch_send in confirmed:
        if chain_sender.is_canonical(w3, batch_send.block_number, batch_send.block_hash):
            continue
        with transaction.atomic():
            if not BatchSend.objects.filter(pk=batch_send.pk, block_hash=batch_send.block_hash).update(
                state=BatchSendState.SENT,
                block_number=None,
                block_hash="",
                gas_used=None,
                effective_gas_price=None,
                sent_at=timezone.now(),
            ):
                continue
            ExecutionRun.objects.filter(pk=batch_send.run_id, status=ExecutionRunStatus.COMPLETED).update(
                status=ExecutionRunStatus.RUNNING, finished_at=None
            )
            execution.record_event(
                batch_send.run,
                "reorg",
                f"batch {batch_send.index}: block {batch_send.block_number} ({batch_send.block_hash}) is no longer "
                "on the chain; the batch is checked again (the bitmap decides, nothing is signed again)",
                index=batch_send.index,
                block=batch_send.block_number,
                block_hash=batch_send.block_hash,
            )
        report.reorged.append(batch_send.pk)


def _reconcile_batch(batch_send: BatchSend, *, w3: Web3, owner: str, report: ReconcileReport) -> None:
    mined = chain_sender.find_mined(w3, execution._hashes(batch_send))
    if mined is not None:
        execution.record_receipt(batch_send, mined, w3=w3)
        report.confirmed.append(batch_send.pk)
        return
    if execution.is_batch_executed(w3, batch_send.run, batch_send.index):
        execution.confirm_from_chain(batch_send, w3=w3, note="found by reconciliation")
        report.confirmed.append(batch_send.pk)
        return
    if batch_send.state == BatchSendState.SIGNED or not chain_sender.is_pending(w3, batch_send.tx_hash):
        try:
            execution._broadcast_signed(batch_send, w3=w3)
        except chain_sender.BroadcastRefused as error:
            execution.record_event(
                batch_send.run, "broadcast_refused", f"batch {batch_send.index}: {error}", index=batch_send.index
            )
            return
        report.rebroadcast.append(batch_send.pk)
        # Followed to its receipt by a task now (which records it and finishes the run), not by the
        # next periodic pass: a start-up pass alone must be able to complete a killed worker's batch.
        _follow_later(batch_send.pk)
        return
    stuck_since = timezone.now() - timedelta(seconds=settings.EXECUTION_STUCK_AFTER_SECONDS)
    stuck = batch_send.sent_at is not None and batch_send.sent_at <= stuck_since
    if stuck and replace_stuck(batch_send, w3=w3, owner=owner):
        report.replaced.append(batch_send.pk)


def _follow_later(batch_send_id: int) -> None:
    from recovery.tasks_execution import send_batch as send_batch_task

    send_batch_task.delay_on_commit(batch_send_id)


def replace_stuck(batch_send: BatchSend, *, w3: Web3, owner: str) -> bool:
    """Replace a sent, unmined transaction at its nonce with fees raised by at least 10% (integers).

    The new bytes and hash are stored (and the old hash kept) before the broadcast. False when the
    bump would pass ``EXECUTION_MAX_FEE_PER_GAS`` (the transaction waits) or the lease is busy.
    """
    run = batch_send.run
    previous = chain_sender.Fees(int(batch_send.max_fee_per_gas), int(batch_send.max_priority_fee_per_gas))
    cap = settings.EXECUTION_MAX_FEE_PER_GAS
    try:
        current = chain_sender.suggest_fees(w3, cap=cap)
    except chain_sender.FeeCapTooLow:
        current = None
    fees = chain_sender.bump_fees(previous, current=current, cap=cap)
    if fees is None:
        execution.record_event(
            run,
            "stuck_at_fee_cap",
            f"batch {batch_send.index} ({batch_send.tx_hash}) is not mined and a 10% higher fee would pass "
            f"EXECUTION_MAX_FEE_PER_GAS ({cap}): it waits",
            index=batch_send.index,
        )
        return False
    if not execution.acquire_lease(chain_id=run.chain_id, address=batch_send.sender, owner=owner):
        return False
    try:
        account = execution.executor_accounts()[batch_send.sender]
        signed = chain_sender.sign(
            account,
            chain_id=run.chain_id,
            nonce=batch_send.nonce,
            to=run.recovery_executor,
            data=execution.batch_calldata(run, batch_send, w3=w3),
            gas=batch_send.gas_limit,
            fees=fees,
        )
        with transaction.atomic():
            if not BatchSend.objects.filter(
                pk=batch_send.pk, state=BatchSendState.SENT, tx_hash=batch_send.tx_hash
            ).update(
                raw_tx="0x" + signed.raw.hex(),
                tx_hash=signed.tx_hash,
                max_fee_per_gas=fees.max_fee_per_gas,
                max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                sent_at=timezone.now(),
                replacements=batch_send.replacements + 1,
            ):
                return False
            SentTransaction.objects.create(
                batch_send=batch_send,
                chain_id=run.chain_id,
                sender=batch_send.sender,
                nonce=batch_send.nonce,
                tx_hash=signed.tx_hash,
                raw_tx="0x" + signed.raw.hex(),
                max_fee_per_gas=fees.max_fee_per_gas,
                max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                purpose="replacement",
            )
            execution.record_event(
                run,
                "replaced",
                f"batch {batch_send.index} stuck as {batch_send.tx_hash}: replaced at nonce {batch_send.nonce} by "
                f"{signed.tx_hash} (max fee {previous.max_fee_per_gas} -> {fees.max_fee_per_gas} wei/gas)",
                index=batch_send.index,
                old_hash=batch_send.tx_hash,
                new_hash=signed.tx_hash,
                max_fee_per_gas=str(fees.max_fee_per_gas),
            )
        chain_sender.broadcast(w3, signed.raw)
    finally:
        execution.release_lease(chain_id=run.chain_id, address=batch_send.sender, owner=owner)
    return True


def _fill_nonce_gaps(w3: Web3, *, owner: str, report: ReconcileReport) -> None:
    for key in SenderKey.objects.exclude(next_nonce=None):
        mined, _ = chain_sender.chain_nonces(w3, key.address)
        if mined >= key.next_nonce:
            continue
        if not execution.acquire_lease(chain_id=key.chain_id, address=key.address, owner=owner):
            continue
        try:
            key.refresh_from_db()
            for nonce in range(mined, key.next_nonce):
                hashes = SentTransaction.objects.filter(sender=key.address, chain_id=key.chain_id, nonce=nonce)
                if any(chain_sender.is_pending(w3, tx_hash) for tx_hash in hashes.values_list("tx_hash", flat=True)):
                    continue
                if BatchSend.objects.filter(sender=key.address, nonce=nonce, state=BatchSendState.SIGNED).exists():
                    continue  # its bytes are rebroadcast, not replaced by a no-op
                _send_gap_fill(w3, key, nonce)
                report.gaps_filled.append(f"{key.address}:{nonce}")
        finally:
            execution.release_lease(chain_id=key.chain_id, address=key.address, owner=owner)


def _send_gap_fill(w3: Web3, key: SenderKey, nonce: int) -> None:
    account = execution.executor_accounts().get(key.address)
    if account is None:
        log.warning("nonce %s of %s is a gap, but the key is no longer configured", nonce, key.address)
        return
    fees = chain_sender.suggest_fees(w3, cap=settings.EXECUTION_MAX_FEE_PER_GAS)
    signed = chain_sender.sign(
        account, chain_id=key.chain_id, nonce=nonce, to=key.address, data=b"", gas=21_000, fees=fees
    )
    SentTransaction.objects.create(
        batch_send=None,
        chain_id=key.chain_id,
        sender=key.address,
        nonce=nonce,
        tx_hash=signed.tx_hash,
        raw_tx="0x" + signed.raw.hex(),
        max_fee_per_gas=fees.max_fee_per_gas,
        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        purpose="gap_fill",
    )
    execution.record_event(
        None,
        "gap_filled",
        f"nonce {nonce} of {key.address} was handed out but no transaction uses it: filled with a 0-value self-send "
        f"{signed.tx_hash}",
        sender=key.address,
        nonce=nonce,
        tx_hash=signed.tx_hash,
    )
    chain_sender.broadcast(w3, signed.raw)


def _stop_superseded_runs(w3: Web3, report: ReconcileReport) -> None:
    """Cancel running and paused runs whose plan a later version superseded on chain.

    Before resuming system pauses: a run paused for want of funds must not resume (and find
    out batch by batch) once the later version's funds arrive.
    """
    for run in ExecutionRun.objects.filter(status__in=[ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED]):
        if execution.stop_superseded_run(run, w3=w3).status == ExecutionRunStatus.CANCELLED:
            report.superseded.append(run.pk)


def _payable_now(w3: Web3, run: ExecutionRun, contract: Any) -> bool:
    """Whether the executor's free balance (held beyond what it owes others) pays the smallest pending batch.

    Restore plans mint and pay from no balance; restitute plans wait for the recovered funds. A
    restore-positions run resumes once the venue would take every batch left
    (``execution.check_venue_allows``: its RESTORER_ROLE granted, the asset there, every account
    to restore empty): a run paused for any of those must not resume, fail and pause again each pass.
    """
    if execution.restores_positions(run):
        try:
            execution.check_venue_allows(w3, run)
        except execution.VenueRefusesRestore:
            return False
        return True
    if run.plan_asset.plan.mode != "restitute":
        return True
    totals = [
        int(t)
        for t in BatchSend.objects.filter(run=run, state=BatchSendState.PENDING).values_list("batch__total", flat=True)
    ]
    if not totals:
        return True
    token = run.plan_asset.payout_token
    held = bind(w3, "RecoveryToken", token).functions.balanceOf(run.recovery_executor).call()
    owed = contract.functions.reserved(token).call()
    return held - owed >= min(totals)


def _resume_system_pauses(w3: Web3, report: ReconcileReport) -> None:
    for run in ExecutionRun.objects.filter(status=ExecutionRunStatus.PAUSED, paused_by_system=True):
        senders = set(BatchSend.objects.filter(run=run).values_list("sender", flat=True))
        funded = all(chain_sender.balance(w3, s) >= settings.EXECUTION_MIN_GAS_BALANCE_WEI for s in senders)
        contract = execution._executor_contract(w3, run)
        unpaused = not contract.functions.paused().call()
        if not (funded and unpaused and _payable_now(w3, run, contract)):
            continue
        with transaction.atomic():
            if ExecutionRun.objects.filter(pk=run.pk, status=ExecutionRunStatus.PAUSED, paused_by_system=True).update(
                status=ExecutionRunStatus.RUNNING, pause_reason="", paused_by_system=False
            ):
                execution.record_event(run, "resumed", "resumed by itself: the cause of the pause is gone")
                run.refresh_from_db()
                execution.enqueue_pending(run, force=True)
                report.resumed.append(run.pk)
