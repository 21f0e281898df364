"""Celery entry points of the recovery app: take ids, call a service."""

from celery import shared_task
from django.conf import settings

import recovery.tasks_execution  # noqa: F401  (autodiscovery imports this module only: registers them)
from chain.errors import RpcUnavailable
from chain.redaction import redact
from chain.rpc import connect
from recovery import impact, services


class AnalysisFailed(Exception):
    """The analysis ended failed; the message is its stored (redacted) error."""


@shared_task
def check_deployment() -> dict[str, object] | None:
    w3 = connect(settings.CHAIN_RPC_URL, timeout=settings.CHAIN_RPC_TIMEOUT)
    deployment = services.check_deployment(w3=w3, rpc_url=settings.CHAIN_RPC_URL)
    if deployment is None:
        return None
    return {"deployment": deployment.pk, "head_block": deployment.head_block, "healthy": deployment.healthy}


# acks_late: a worker that dies mid-scan leaves the message to another worker, which resumes
# from the analysis' checkpoint. The computation is idempotent (a finished analysis returns,
# one another worker is running returns too).
@shared_task(
    acks_late=True, reject_on_worker_lost=True, autoretry_for=(RpcUnavailable,), retry_backoff=True, max_retries=8
)
def compute_impact(analysis_id: int) -> dict[str, object]:
    # The errors raised here end up in the result backend: only their redacted text leaves.
    try:
        analysis = impact.compute_impact(analysis_id=analysis_id, rpc_url=settings.CHAIN_RPC_URL)
    except RpcUnavailable as error:
        raise RpcUnavailable(redact(str(error), secrets=[settings.CHAIN_RPC_URL])) from None
    except Exception as error:  # recorded on the analysis already; re-raised redacted
        raise AnalysisFailed(redact(f"{type(error).__name__}: {error}", secrets=[settings.CHAIN_RPC_URL])) from None
    return {"analysis": analysis.pk, "status": analysis.status}


@shared_task
def requeue_lost_analyses() -> list[int]:
    """Enqueue again each analysis whose message was lost (see ``impact.find_lost_analyses``)."""
    lost = impact.find_lost_analyses(
        pending_seconds=settings.IMPACT_REQUEUE_AFTER_SECONDS, lease_seconds=settings.IMPACT_RUNNING_LEASE_SECONDS
    )
    for analysis_id in lost:
        compute_impact.delay(analysis_id)
    return lost
