"""Celery entry point of the indexer: follow every open proposal (run by beat every
``GOVERNANCE_FOLLOW_INTERVAL_SECONDS``)."""

from celery import shared_task
from django.conf import settings

from chain.redaction import redact
from governance import following
from recovery.exceptions import ChainUnavailable

__all__ = ["follow_proposals"]


# acks_late: a worker lost mid-run leaves the message to another. A run is idempotent and
# restart-safe (the cursor and the rows move together, in one transaction), and two runs at
# once are safe (the second finds the cursor moved and writes nothing). No retries: beat sends
# the next run anyway.
@shared_task(name="governance.follow_proposals", acks_late=True, reject_on_worker_lost=True, ignore_result=False)
def follow_proposals() -> int:
    try:
        return following.follow_all(rpc_url=settings.CHAIN_RPC_URL)
    except ChainUnavailable as error:
        # Only the redacted text reaches the result backend and the worker's log.
        raise ChainUnavailable(redact(error.message, secrets=[settings.CHAIN_RPC_URL])) from None
