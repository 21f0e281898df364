"""Reads for the executors' pages: runs with their progress, passed proposals to queue or execute, the audit log.

Built on ``recovery.execution_selectors`` (the API's own reads), so a page and
``GET /api/executions/{id}/`` always say the same thing; this module only pages and labels.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator

from governance.models import Publication, PublicationStatus
from governance.models.publications import ProposalState
from proposals.models import ProposalDocument
from recovery import execution_selectors
from recovery.models import BatchSend, ExecutionEvent, ExecutionRun, ExecutionRunStatus, PlanAsset
from web import selectors_holders

RUNS_PER_PAGE = 20
EVENTS_PER_PAGE = 50
# While a run can still change by itself its progress fragment is polled; once over, never again.
LIVE_STATUSES = (ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED)
DELIVERIES = {0: "push", 1: "push with fallback", 2: "pull (holders claim)"}


@dataclass(frozen=True, slots=True)
class RunRow:
    run: ExecutionRun
    progress: dict[str, Any]


def list_run_rows(*, page: str | None) -> tuple[Page, list[RunRow]]:
    """Every execution run, newest first, a page at a time, each with its progress."""
    paginator = Paginator(execution_selectors.list_runs(), RUNS_PER_PAGE)
    current = paginator.get_page(page)
    return current, [RunRow(run, run_progress(run)) for run in current.object_list]


def run_progress(run: ExecutionRun) -> dict[str, Any]:
    """The API's progress of ``run`` (``GET /api/executions/{id}/``'s ``progress``)."""
    return execution_selectors.run_progress(run, stuck_after_seconds=settings.EXECUTION_STUCK_AFTER_SECONDS)


def find_run(*, run_id: int) -> ExecutionRun | None:
    return execution_selectors.list_runs().select_related("plan_asset__plan__incident").filter(pk=run_id).first()


def list_batch_sends(run: ExecutionRun) -> list[BatchSend]:
    """The run's batch sends in index order, each with its batch (the page shows how many accounts it holds)."""
    return list(execution_selectors.list_batch_sends(run).select_related("batch"))


def sender_addresses(run: ExecutionRun) -> list[str]:
    """The executor keys' addresses that send (or sent) the run's batches; never a key."""
    return sorted(set(BatchSend.objects.filter(run=run).values_list("sender", flat=True)))


def asset_decimals(plan_asset: PlanAsset) -> int | None:
    """The asset's decimals as the plan's frozen document states them; None without a document."""
    document = ProposalDocument.objects.filter(plan_id=plan_asset.plan_id).first()
    if document is None:
        return None
    return selectors_holders.asset_decimals(document).get(plan_asset.asset)


def plan_decimals(plan_id: int) -> dict[str, int | None]:
    """Each asset's decimals (checksummed asset address) as the plan's frozen document states them."""
    document = ProposalDocument.objects.filter(plan_id=plan_id).first()
    return {} if document is None else selectors_holders.asset_decimals(document)


def proposal_document_id(plan_id: int) -> int | None:
    return ProposalDocument.objects.filter(plan_id=plan_id).values_list("pk", flat=True).first()


def events_page(*, run_id: int, page: str | None, per_page: int = EVENTS_PER_PAGE) -> Page:
    """The run's audit log, oldest first, a page at a time (the API's feed, paged instead of polled)."""
    events = ExecutionEvent.objects.filter(run_id=run_id).select_related("actor").order_by("pk")
    return Paginator(events, per_page).get_page(page)


def latest_events(*, run_id: int, count: int = 10) -> list[ExecutionEvent]:
    """The run's newest ``count`` events, oldest first (the run page's excerpt of the audit log)."""
    newest = ExecutionEvent.objects.filter(run_id=run_id).select_related("actor").order_by("-pk")[:count]
    return list(reversed(newest))


def publications_to_advance() -> list[Publication]:
    """Passed governor proposals Lifeboat has not executed: Succeeded (to queue or execute) or Queued."""
    return list(
        Publication.objects.filter(
            status=PublicationStatus.CREATED,
            execute_tx_hash="",
            state__in=(ProposalState.SUCCEEDED, ProposalState.QUEUED),
        )
        .select_related("venue", "document__incident")
        .order_by("pk")
    )


def find_publication(*, publication_id: int) -> Publication | None:
    return Publication.objects.filter(pk=publication_id).first()
