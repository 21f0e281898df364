"""Celery entry points of execution: take ids, call a service (``recovery/execution*.py``)."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import OperationalError, connections

from chain.errors import RpcUnavailable
from chain.redaction import redact
from recovery import execution, execution_reconcile
from recovery.execution_errors import SenderBusy

log = logging.getLogger(__name__)


# acks_late: a worker killed mid-send leaves the message for another worker. The service is
# idempotent (the batch's state and the contract's bitmap are read first), so a rerun at any
# point sends nothing twice. Only a busy sender key, an unavailable node and a locked or dropped
# database (OperationalError: SQLite's "database is locked") are retried; any other
# error is recorded on the batch by the service and not retried (a retry "on any exception" is
# how a sender pays twice).
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RpcUnavailable, SenderBusy, OperationalError),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=50,
)
def send_batch(batch_send_id: int) -> dict[str, object]:
    try:
        batch_send = execution.send_batch(batch_send_id=batch_send_id)
    except RpcUnavailable as error:
        raise RpcUnavailable(redact(str(error), secrets=[settings.CHAIN_RPC_URL])) from None
    return {"batch_send": batch_send.pk, "state": batch_send.state}


@shared_task
def discover_approved_plans() -> list[int]:
    """Create a ready run for every plan asset approved on chain past the confirmation depth."""
    return [run.pk for run in execution.discover_approvals(w3=execution.chain_client())]


@shared_task(bind=True, acks_late=True, max_retries=50)
def reconcile_executions(self, startup: bool = False) -> dict[str, list]:
    # The start-up pass is retried while the node or the database is away: it is the only pass that
    # picks up a killed worker's batch before the periodic one (if beat runs at all). A periodic
    # pass is not: the next one comes anyway.
    try:
        return execution_reconcile.reconcile_executions(startup=startup).as_dict()
    except (RpcUnavailable, OperationalError) as error:
        if not startup:
            raise
        raise self.retry(countdown=min(2 ** min(self.request.retries, 5), 30)) from error


@worker_ready.connect
def _reconcile_when_a_worker_starts(sender: object = None, **_: object) -> None:
    # A killed worker's batch may be signed and never broadcast, and its message may come back only
    # after the broker's visibility timeout (an hour on Redis by default): the start-up pass
    # rebroadcasts it and re-enqueues pending batches now. It runs here, before this worker takes
    # its first message: enqueued, it would wait behind the pending batches, each of which would
    # wait its whole receipt timeout behind the killed worker's unbroadcast nonce.
    if not settings.EXECUTION_RECONCILE_ON_WORKER_READY:
        return
    try:
        execution_reconcile.reconcile_executions(startup=True)
    except Exception as error:  # the node or the database is not there yet: the task retries later
        log.warning("the start-up reconciliation pass failed (%s); it is enqueued instead", type(error).__name__)
        reconcile_executions.delay(startup=True)
    finally:
        # The pass ran in the worker's main process: no connection of it may be inherited by a fork.
        connections.close_all()
