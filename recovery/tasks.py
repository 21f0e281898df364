"""Celery entry points of the recovery app: take ids, call a service."""

from celery import shared_task
from django.conf import settings

from chain.rpc import connect
from recovery import services


@shared_task
def check_deployment() -> dict[str, object] | None:
    w3 = connect(settings.CHAIN_RPC_URL, timeout=settings.CHAIN_RPC_TIMEOUT)
    deployment = services.check_deployment(w3=w3, rpc_url=settings.CHAIN_RPC_URL)
    if deployment is None:
        return None
    return {"deployment": deployment.pk, "head_block": deployment.head_block, "healthy": deployment.healthy}
