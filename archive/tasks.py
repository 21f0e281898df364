"""Celery entry points of the archive app: thin, each calls a service."""

import logging

from celery import shared_task

from archive import services
from archive.exceptions import NothingTracked
from config.errors import LifeboatError

log = logging.getLogger(__name__)


# Safe to run twice at once, or again after a crash: both runs pick the same block (a multiple
# of STATE_SNAPSHOT_EVERY_BLOCKS), write the same file name and meet at the unique row. A failed
# run is not retried here: the next beat run, STATE_SNAPSHOT_CHECK_SECONDS later, tries again.
# Each run records how it ended (``PeriodicSnapshotRun``), so the archive page can say that the
# last one failed and why; a failure still raises, for the worker's log.
@shared_task(acks_late=True)
def take_periodic_snapshot() -> dict[str, object] | None:
    try:
        snapshot = services.take_periodic_snapshot()
    except NothingTracked as error:
        log.info("no state snapshot taken: %s", error)
        services.record_periodic_run(error=error.message)
        return None
    except LifeboatError as error:
        services.record_periodic_run(error=error.message)
        raise
    except Exception as error:
        services.record_periodic_run(error=f"{type(error).__name__}: {error}")
        raise
    services.record_periodic_run()
    if snapshot is None:
        return None
    return {"snapshot": snapshot.pk, "block": snapshot.block, "root": snapshot.root, "sha256": snapshot.sha256}
