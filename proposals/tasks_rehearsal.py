"""Celery entry point of rehearsals: take an id, call the service."""

from celery import shared_task
from django.conf import settings

from proposals import rehearsals

__all__ = ["run_rehearsal"]


# acks_late: a worker lost mid-run leaves the message to another, which runs the rehearsal again
# (a fork holds no state worth keeping). The service is idempotent: a finished rehearsal is
# returned as it is, so a duplicate delivery runs nothing twice. A node failure is stored on the
# rehearsal as ``error`` (no retry: request another rehearsal).
@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_rehearsal(rehearsal_id: int) -> dict[str, object]:
    rehearsal = rehearsals.run_rehearsal(rehearsal_id=rehearsal_id, rpc_url=settings.CHAIN_RPC_URL)
    return {"rehearsal": rehearsal.pk, "status": rehearsal.status}
