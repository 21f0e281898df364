"""Celery entry point of outcomes: queue and execute every passed proposal, when
``GOVERNANCE_AUTO_EXECUTE`` says so (run by beat)."""

from celery import shared_task
from django.conf import settings

from chain.redaction import redact
from governance import outcomes

__all__ = ["advance_publications"]


# acks_late: a worker lost mid-run leaves the message to another. A rerun is safe: each
# publication's step reads the governor's state first and sends nothing once it is done.
# No retries: beat sends the next run anyway.
@shared_task(name="governance.advance_publications", acks_late=True, reject_on_worker_lost=True)
def advance_publications() -> dict[str, str]:
    if not settings.GOVERNANCE_AUTO_EXECUTE:
        return {}
    done = outcomes.advance_publications(rpc_url=settings.CHAIN_RPC_URL)
    # Only redacted text reaches the result backend.
    return {pk: redact(text, secrets=[settings.CHAIN_RPC_URL]) for pk, text in done.items()}
