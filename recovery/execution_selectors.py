"""Reads of execution: runs with their progress, batches, stuck transactions, the event feed."""

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from recovery.execution_errors import ExecutionRunNotFound
from recovery.models import BatchSend, BatchSendState, ExecutionEvent, ExecutionRun, SentTransaction


def list_runs(*, plan_id: int | None = None) -> QuerySet[ExecutionRun]:
    runs = ExecutionRun.objects.select_related("plan_asset__plan", "started_by").order_by("-pk")
    return runs.filter(plan_asset__plan_id=plan_id) if plan_id is not None else runs


def get_run(run_id: int) -> ExecutionRun:
    try:
        return ExecutionRun.objects.select_related("plan_asset__plan", "started_by").get(pk=run_id)
    except ExecutionRun.DoesNotExist:
        raise ExecutionRunNotFound(f"there is no execution run {run_id}", run=run_id) from None


def run_progress(run: ExecutionRun, *, stuck_after_seconds: int | None = None) -> dict[str, Any]:
    """Batches done of total, accounts paid, amount paid, gas used and fees spent (wei, as strings),
    failures with their reasons, and transactions waiting (with every hash they had)."""
    sends = list(BatchSend.objects.filter(run=run).select_related("batch").order_by("index"))
    confirmed = [s for s in sends if s.state == BatchSendState.CONFIRMED]
    hashes: dict[int, list[str]] = {}
    for batch_send_id, tx_hash in SentTransaction.objects.filter(batch_send__run=run).values_list(
        "batch_send_id", "tx_hash"
    ):
        hashes.setdefault(batch_send_id, []).append(tx_hash)
    now = timezone.now()
    waiting = [
        {
            "index": s.index,
            "state": s.state,
            "tx_hash": s.tx_hash,
            "nonce": s.nonce,
            "sender": s.sender,
            "seconds_waiting": int((now - s.sent_at).total_seconds()) if s.sent_at else None,
            "replacements": s.replacements,
            "hashes": hashes.get(s.pk, []),
            "stuck": bool(
                stuck_after_seconds and s.sent_at and (now - s.sent_at).total_seconds() > stuck_after_seconds
            ),
        }
        for s in sends
        if s.state in (BatchSendState.SIGNED, BatchSendState.SENT)
    ]
    return {
        "batches_total": run.plan_asset.batches.count(),
        "batches_done": len(confirmed),
        "batches_failed": sum(1 for s in sends if s.state == BatchSendState.FAILED),
        "batches_in_flight": len(waiting),
        "accounts_total": sum(len(b) for b in run.plan_asset.batches.values_list("recipients", flat=True)),
        "accounts_paid": sum(len(s.batch.recipients) for s in confirmed),
        "amount_paid": str(sum(int(s.batch.total) for s in confirmed)),
        "gas_used": sum(s.gas_used or 0 for s in sends),
        "fees_spent_wei": str(sum((s.gas_used or 0) * int(s.effective_gas_price or 0) for s in sends)),
        "failures": [{"index": s.index, "reason": s.failure_reason} for s in sends if s.state == BatchSendState.FAILED],
        "waiting": waiting,
    }


def list_batch_sends(run: ExecutionRun) -> QuerySet[BatchSend]:
    return BatchSend.objects.filter(run=run).order_by("index")


def list_events(*, run_id: int, after: int = 0, limit: int = 500) -> list[ExecutionEvent]:
    """The run's events after event id ``after``, oldest first (the pages poll with the last id they saw)."""
    return list(
        ExecutionEvent.objects.filter(run_id=run_id, pk__gt=after).select_related("actor").order_by("pk")[:limit]
    )
