"""Celery entry points of the recovery app: take ids, call a service."""

from celery import shared_task
from django.conf import settings

from chain.errors import RpcUnavailable
from chain.rpc import connect
from recovery import impact, services


@shared_task
def check_deployment() -> dict[str, object] | None:
    w3 = connect(settings.CHAIN_RPC_URL, timeout=settings.CHAIN_RPC_TIMEOUT)
    deployment = services.check_deployment(w3=w3, rpc_url=settings.CHAIN_RPC_URL)
    if deployment is None:
        return None
    return {"deployment": deployment.pk, "head_block": deployment.head_block, "healthy": deployment.healthy}


# acks_late: a worker that dies mid-scan leaves the message to another worker, which resumes
# from the analysis' checkpoint. The computation is idempotent (a finished analysis returns).
@shared_task(
    acks_late=True, reject_on_worker_lost=True, autoretry_for=(RpcUnavailable,), retry_backoff=True, max_retries=8
)
def compute_impact(analysis_id: int) -> dict[str, object]:
    analysis = impact.compute_impact(analysis_id=analysis_id, rpc_url=settings.CHAIN_RPC_URL)
    return {"analysis": analysis.pk, "status": analysis.status}
