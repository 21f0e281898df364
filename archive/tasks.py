"""Celery entry points of the archive app: thin, each calls a service."""

import logging

from celery import shared_task

from archive import services
from archive.exceptions import NothingTracked

log = logging.getLogger(__name__)


# Safe to run twice at once, or again after a crash: both runs pick the same block (a multiple
# of STATE_SNAPSHOT_EVERY_BLOCKS), write the same file name and meet at the unique row. A failed
# run is not retried here: the next beat run, STATE_SNAPSHOT_CHECK_SECONDS later, tries again.
@shared_task(acks_late=True)
def take_periodic_snapshot() -> dict[str, object] | None:
    try:
        snapshot = services.take_periodic_snapshot()
    except NothingTracked as error:
        log.info("no state snapshot taken: %s", error)
        return None
    if snapshot is None:
        return None
    return {"snapshot": snapshot.pk, "block": snapshot.block, "root": snapshot.root, "sha256": snapshot.sha256}
