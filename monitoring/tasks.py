"""Celery entry points of the monitors: the beat task runs every due watched deployment."""

from celery import shared_task

import monitoring.tasks_responses  # noqa: F401  (autodiscovery imports this module only: registers them)
from monitoring import engine, retention


# No retry: the next beat tick (MONITOR_INTERVAL_SECONDS) runs again from the stored progress,
# and a deployment another worker is running is skipped (its lease), never run twice at once.
@shared_task
def run_monitors() -> list[dict[str, object]]:
    return [
        {
            "watched": result.watched,
            "head": result.head,
            "from_block": result.from_block,
            "to_block": result.to_block,
            "opened": result.opened,
            "resolved": result.resolved,
            "error": result.error,
        }
        for result in engine.run_due()
    ]


@shared_task
def prune_observations() -> int:
    """Delete old observations (``monitoring.retention``); beat entry ``prune-observations``."""
    return retention.prune_observations()
