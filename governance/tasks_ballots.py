"""Celery entry points of the ballot relay."""

from celery import shared_task
from django.conf import settings

from governance import ballots

__all__ = ["resume_ballot_relays"]


@shared_task(acks_late=True)
def resume_ballot_relays(older_than_seconds: int = 30) -> list[int]:
    # Safe to rerun: a relay re-broadcasts only the signed bytes it stored, and reads its receipt first.
    return ballots.resume_ballot_relays(rpc_url=settings.CHAIN_RPC_URL, older_than_seconds=older_than_seconds)
