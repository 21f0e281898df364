"""Reads of the recovery app."""

from recovery.models import Deployment


def get_current_deployment(*, rpc_url: str) -> Deployment | None:
    """The newest deployment recorded for ``rpc_url``, with its contracts loaded."""
    return Deployment.objects.filter(rpc_url=rpc_url).prefetch_related("contracts").first()
