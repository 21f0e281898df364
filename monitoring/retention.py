"""Retention of the monitors' observations: a healthy chain adds a row per rule per run, so old
rows are deleted, but never the ones something still needs.

Kept, whatever their age:
- each rule's latest ``MONITOR_OBSERVATION_KEEP_LATEST`` (at least its ``consecutive_needed``):
  the engine's debounce streak and reorg check read the newest rows, and a quiet rule still
  shows what it last saw;
- every observation a firing cites as evidence (``Firing.evidence`` items name it by
  ``"observation": <pk>``; the engine's ``_evidence``), so a firing's page never points at a
  deleted row.
The evidence items also copy what they cite (block, values, message), so a firing stays
readable on its own; keeping the rows keeps the observation pages consistent with it.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from monitoring.models import Firing, Observation, Rule

log = logging.getLogger(__name__)

# Rows deleted per statement (a bounded parameter list on every database, short locks).
BATCH = 500


def evidence_ids() -> set[int]:
    """Every observation id a firing cites in its evidence."""
    cited: set[int] = set()
    for evidence in Firing.objects.values_list("evidence", flat=True).iterator():
        for item in evidence or []:
            if isinstance(item, dict) and isinstance(item.get("observation"), int):
                cited.add(item["observation"])
    return cited


def prune_observations(*, now: datetime | None = None, days: int | None = None, keep_latest: int | None = None) -> int:
    """Delete observations older than ``days`` (``MONITOR_OBSERVATION_RETENTION_DAYS``) but the kept
    ones (see the module); returns how many were deleted."""
    days = settings.MONITOR_OBSERVATION_RETENTION_DAYS if days is None else days
    keep_latest = settings.MONITOR_OBSERVATION_KEEP_LATEST if keep_latest is None else keep_latest
    if days < 0 or keep_latest < 0:
        raise ValueError("the retention days and the number of observations kept per rule cannot be negative")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    cited: set[int] | None = None
    for rule in Rule.objects.filter(observations__observed_at__lt=cutoff).distinct().order_by("pk"):
        # The same order as the engine's streak (newest first).
        kept = set(
            Observation.objects.filter(rule=rule)
            .order_by("-observed_at", "-block_number", "-pk")
            .values_list("pk", flat=True)[: max(keep_latest, rule.consecutive_needed)]
        )
        old = Observation.objects.filter(rule=rule, observed_at__lt=cutoff).values_list("pk", flat=True)
        candidates = [pk for pk in old.iterator() if pk not in kept]
        if not candidates:
            continue
        # Read after the candidates: a firing made meanwhile cites only rows the engine just read,
        # which are among the newest (kept), never old ones.
        cited = evidence_ids() if cited is None else cited
        doomed = [pk for pk in candidates if pk not in cited]
        for start in range(0, len(doomed), BATCH):
            deleted += Observation.objects.filter(pk__in=doomed[start : start + BATCH]).delete()[0]
    if deleted:
        log.info("deleted %s observations older than %s days", deleted, days)
    return deleted
