"""The executors' pages: runs, start/pause/resume/cancel, live progress, the audit log, the verification report.

Every page and form is for the executor role (``web.access.executor_required``: anonymous → the
sign-in page, wrong role → 403). Each action calls the service its API calls
(``recovery.execution``, ``governance.outcomes``, ``recovery.verification``); a refusal
(``LifeboatError``) comes back on the page in the service's own words with its status (409 for a
state conflict), and nothing is written. Amounts are integers of base units, shown exactly.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.errors import LifeboatError
from governance import outcomes
from proposals.document import format_units
from recovery import execution
from recovery.execution_selectors import get_run
from recovery.models import BatchSendState, ExecutionRun, ExecutionRunStatus, PlanMode
from recovery.verification import POSITION_FIELDS, verify_plan
from web import selectors_executions as selectors
from web.access import executor_required, not_found

PAUSE_REASON_MAX = 500
ACCOUNTS_PER_PAGE = 50
STATUS_WORDS = {
    ExecutionRunStatus.READY: "waiting to start",
    ExecutionRunStatus.RUNNING: "running",
    ExecutionRunStatus.PAUSED: "paused",
    ExecutionRunStatus.CANCELLED: "cancelled",
    ExecutionRunStatus.COMPLETED: "done",
    ExecutionRunStatus.FAILED: "failed",
}


# --- the list ---


@executor_required
@require_GET
def runs_list(request: HttpRequest) -> HttpResponse:
    """``/executions/``: every run (status, approval, progress) and the passed proposals to queue or execute."""
    return _runs_list(request)


def _runs_list(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    page, rows = selectors.list_run_rows(page=request.GET.get("page"))
    context = {
        "page": page,
        "rows": [_run_row(row.run, row.progress) for row in rows],
        "publications": [_publication(p) for p in selectors.publications_to_advance()],
        "error": error,
        "nav": "executions",
    }
    return render(request, "web/executor/runs.html", context, status=status)


@executor_required
@require_POST
def discover(request: HttpRequest) -> HttpResponse:
    """Look for ``PlanApproved`` on chain now (what the periodic task does): a *ready* run per approved plan."""
    try:
        created = execution.discover_approvals(w3=execution.chain_client())
    except LifeboatError as error:
        return _runs_list(request, error=error.message, status=error.status)
    if created:
        names = ", ".join(f"run {run.pk} (plan {run.plan_asset.plan_id})" for run in created)
        messages.success(request, f"Approved on chain and ready to start: {names}.")
    else:
        messages.info(request, "No new approval on chain past the confirmation depth.")
    return redirect("executor-runs")


@executor_required
@require_POST
def publication_action(request: HttpRequest, publication_id: int, action: str) -> HttpResponse:
    """Queue or execute a passed proposal (``POST /api/publications/{id}/queue/`` and ``/execute/``)."""
    if selectors.find_publication(publication_id=publication_id) is None:
        return not_found(request, f"There is no publication {publication_id}.")
    service = outcomes.queue_publication if action == "queue" else outcomes.execute_publication
    try:
        step = service(publication_id=publication_id, rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user)
    except LifeboatError as error:
        return _runs_list(request, error=f"Publication {publication_id}: {error.message}", status=error.status)
    verb = "queued" if action == "queue" else "executed"
    if step.sent:
        approvals = f"; {len(step.approvals)} PlanApproved event(s)" if step.approvals else ""
        messages.success(request, f"Publication {publication_id} {verb} in {step.tx_hash}{approvals}.")
    else:
        messages.info(request, f"Publication {publication_id} was {verb} already: nothing sent.")
    return redirect("executor-runs")


# --- one run ---


@executor_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """``/executions/<id>/``: the run, its approval, the actions its status allows, live progress, latest events."""
    run = selectors.find_run(run_id=run_id)
    if run is None:
        return not_found(request, f"There is no execution run {run_id}.")
    return _run_page(request, run)


def _run_page(
    request: HttpRequest,
    run: ExecutionRun,
    *,
    error: str = "",
    field_errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    plan_asset = run.plan_asset
    context = {
        "run": run,
        "row": _run_row(run, selectors.run_progress(run)),
        "plan": plan_asset.plan,
        "plan_asset": plan_asset,
        "delivery": selectors.DELIVERIES.get(run.delivery, str(run.delivery)),
        "document_id": selectors.proposal_document_id(plan_asset.plan_id),
        "progress": _progress_context(run),
        "actions": _actions(run),
        "error": error,
        "field_errors": field_errors or {},
        "values": values or {},
        "pause_reason_max": PAUSE_REASON_MAX,
        "nav": "executions",
    }
    return render(request, "web/executor/run.html", context, status=status)


@executor_required
@require_GET
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The live part of the run page (htmx): polled while the run can change, then served without its trigger.

    ``?shown=`` is the status the page shows; when the run's differs, the action forms come along
    (out of band), so the page never offers an action its status no longer allows.
    """
    run = selectors.find_run(run_id=run_id)
    if run is None:
        return not_found(request, f"There is no execution run {run_id}.")
    context = {
        "run": run,
        "progress": _progress_context(run),
        "actions": _actions(run),
        "oob": request.GET.get("shown", run.status) != run.status,
        "pause_reason_max": PAUSE_REASON_MAX,
        "field_errors": {},
        "values": {},
    }
    return render(request, "web/executor/_progress.html", context)


@executor_required
@require_POST
def run_action(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    """Start, pause (with a reason), resume or cancel (confirmed) a run, through ``recovery.execution``."""
    run = selectors.find_run(run_id=run_id)
    if run is None:
        return not_found(request, f"There is no execution run {run_id}.")
    reason = request.POST.get("reason", "").strip()
    if action == "pause" and len(reason) > PAUSE_REASON_MAX:
        return _run_page(
            request,
            run,
            field_errors={"reason": f"At most {PAUSE_REASON_MAX} characters (this one has {len(reason)})."},
            values={"reason": reason},
            status=400,
        )
    if action == "cancel" and request.POST.get("confirm") != "yes":
        return _run_page(
            request,
            run,
            field_errors={"confirm": "Tick the box to confirm: a cancelled run never sends another batch."},
            status=400,
        )
    try:
        if action == "start":
            execution.start_plan_execution(
                plan_id=run.plan_asset.plan_id, asset=run.plan_asset.asset, actor=request.user, via="web"
            )
        elif action == "pause":
            execution.pause_execution(run_id=run.pk, actor=request.user, via="web", reason=reason)
        elif action == "resume":
            execution.resume_execution(run_id=run.pk, actor=request.user, via="web")
        else:
            execution.cancel_execution(run_id=run.pk, actor=request.user, via="web")
    except LifeboatError as error:
        return _run_page(request, get_run(run.pk), error=error.message, values={"reason": reason}, status=error.status)
    done = {"start": "Execution started", "pause": "Paused", "resume": "Resumed", "cancel": "Cancelled"}[action]
    messages.success(request, f"{done}: run {run.pk}.")
    return redirect("executor-run", run_id=run.pk)


@executor_required
@require_GET
def run_events(request: HttpRequest, run_id: int) -> HttpResponse:
    """``/executions/<id>/events/``: the run's whole audit log, oldest first, paginated."""
    run = selectors.find_run(run_id=run_id)
    if run is None:
        return not_found(request, f"There is no execution run {run_id}.")
    page = selectors.events_page(run_id=run.pk, page=request.GET.get("page"))
    return render(
        request,
        "web/executor/events.html",
        {"run": run, "page": page, "events": [_event(e) for e in page.object_list], "nav": "executions"},
    )


# --- the verification report ---


@executor_required
@require_GET
def verification(request: HttpRequest, plan_id: int) -> HttpResponse:
    """``/plans/<id>/verification/``: the report read from the chain now (``GET /api/plans/{id}/verification/``).

    Each visit reads the chain afresh at its head: JSON-RPC batches, seconds for ten thousand
    accounts. The per-account rows are paginated; the Markdown download holds them all.
    """
    asset = request.GET.get("asset") or None
    try:
        report = verify_plan(plan_id, asset=asset)
    except LifeboatError as error:
        if error.status == 404:
            return not_found(request, error.message)
        context = {"plan_id": plan_id, "error": error.message, "nav": "executions"}
        return render(request, "web/executor/verification.html", context, status=error.status)
    md_url = reverse("plan-verification-markdown", args=[plan_id])
    if asset:
        md_url += "?" + urlencode({"asset": asset})
    decimals = selectors.plan_decimals(plan_id)
    assets = []
    for item in report.assets:
        unit = decimals.get(item.asset)
        restores = bool(item.venue or item.positions)
        page = Paginator(item.positions if restores else item.accounts, ACCOUNTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        assets.append(
            {
                "item": item,
                "totals": {name: _amount(value, unit) for name, value in item.totals.items()},
                "page": page,
                "restores_positions": restores,
                "accounts": [] if restores else [_verified_account(line, unit) for line in page.object_list],
                "positions": [_verified_position(line) for line in page.object_list] if restores else [],
                "unexpected": [_verified_account(line, unit) for line in item.unexpected],
                "query": urlencode({"asset": asset}) + "&" if asset else "",
            }
        )
    context = {
        "plan_id": plan_id,
        "report": report,
        "assets": assets,
        "restores_positions": any(a["restores_positions"] for a in assets),
        "accounts_checked": sum(len(item.accounts) + len(item.positions) for item in report.assets),
        "md_url": md_url,
        "nav": "executions",
    }
    return render(request, "web/executor/verification.html", context)


# --- presentation only ---


def _restores_positions(run: ExecutionRun) -> bool:
    return run.plan_asset.plan.mode == PlanMode.RESTORE_POSITIONS


def _run_row(run: ExecutionRun, progress: dict[str, Any]) -> dict[str, Any]:
    status = run.status
    return {
        # A restore-positions run re-creates accounts on its venue: its "accounts paid" are positions restored.
        "accounts_word": "positions restored" if _restores_positions(run) else "accounts paid",
        "id": run.pk,
        "url": reverse("executor-run", args=[run.pk]),
        "plan_id": run.plan_asset.plan_id,
        "version": run.version,
        "asset": run.plan_asset.asset,
        "status": status,
        "status_words": STATUS_WORDS.get(status, status),
        "pause_reason": run.pause_reason if status == ExecutionRunStatus.PAUSED else "",
        "paused_by_system": run.paused_by_system,
        "approval_block": run.approval_block,
        "approval_block_hash": run.approval_block_hash,
        "batches_done": progress["batches_done"],
        "batches_total": progress["batches_total"],
        "accounts_paid": f"{progress['accounts_paid']:,}",
        "accounts_total": f"{progress['accounts_total']:,}",
    }


def _progress_context(run: ExecutionRun) -> dict[str, Any]:
    progress = selectors.run_progress(run)
    decimals = selectors.asset_decimals(run.plan_asset)
    fees = int(progress["fees_spent_wei"])
    sends = selectors.list_batch_sends(run)
    return {
        **progress,
        "status": run.status,
        "positions": _restores_positions(run),
        "venue": run.plan_asset.venue,
        "status_words": STATUS_WORDS.get(run.status, run.status),
        "pause_reason": run.pause_reason if run.status == ExecutionRunStatus.PAUSED else "",
        "paused_by_system": run.paused_by_system,
        "live": run.status in selectors.LIVE_STATUSES,
        "amount_paid_text": _amount(int(progress["amount_paid"]), decimals),
        "gas_used_text": f"{progress['gas_used']:,}",
        "fees_wei_text": f"{fees:,}",
        "fees_eth_text": format_units(fees, 18),
        "accounts_paid_text": f"{progress['accounts_paid']:,}",
        "accounts_total_text": f"{progress['accounts_total']:,}",
        "senders": selectors.sender_addresses(run),
        "batches": [
            {
                "index": s.index,
                "state": s.state,
                "sender": s.sender,
                "nonce": s.nonce,
                "tx_hash": s.tx_hash,
                "block_number": s.block_number,
                "gas_used": "" if s.gas_used is None else f"{s.gas_used:,}",
                "replacements": s.replacements,
                "failure_reason": s.failure_reason,
                "confirmed_by": s.confirmed_by,
                "accounts": len(s.batch.recipients),
            }
            for s in sends
        ],
        "pending": sum(1 for s in sends if s.state == BatchSendState.PENDING),
        "events": [_event(e) for e in selectors.latest_events(run_id=run.pk)],
    }


def _actions(run: ExecutionRun) -> dict[str, bool]:
    status = run.status
    return {
        "start": status == ExecutionRunStatus.READY,
        "pause": status == ExecutionRunStatus.RUNNING,
        "resume": status == ExecutionRunStatus.PAUSED,
        "cancel": status in (ExecutionRunStatus.READY, ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED),
    }


def _event(event: Any) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "message": event.message,
        "actor": event.actor_label,
        "created_at": event.created_at,
        "data": [
            (key, ", ".join(map(str, value)) if isinstance(value, list) else value)
            for key, value in sorted((event.data or {}).items())
        ],
    }


def _publication(publication: Any) -> dict[str, Any]:
    return {
        "id": publication.pk,
        "title": publication.document.incident.title,
        "document_id": publication.document_id,
        "venue": publication.venue.name,
        "proposal_id": str(publication.proposal_id),
        "state": publication.state,
        "eta": publication.eta,
        # The state is the follower's (re-read every few seconds); a queue Lifeboat sent shows at once.
        "queue": publication.state == "succeeded" and not publication.queue_tx_hash,
        "queue_tx_hash": publication.queue_tx_hash,
        "execute": True,
    }


def _verified_account(line: Any, decimals: int | None) -> dict[str, Any]:
    return {
        "account": line.account,
        "status": line.status,
        "allocated": _amount(line.allocated, decimals),
        "paid": _amount(line.paid, decimals),
        "owed": _amount(line.owed, decimals),
        "claimable": _amount(line.claimable, decimals),
        "how": ", ".join(kind for kind in ("pushed", "credited", "claimed") if getattr(line, kind)),
        "transactions": line.transactions,
        "batch_index": line.batch_index,
        "balance_ok": line.balance_ok,
        "flagged": line.status not in ("paid", "owed", "claimable", "credited"),
    }


def _verified_position(line: Any) -> dict[str, Any]:
    """One restored account: each field as committed, and what the venue holds where it differs."""
    expected = dict(zip(POSITION_FIELDS, line.expected.as_tuple()[1:], strict=True))
    return {
        "account": line.account,
        "status": line.status,
        "batch_index": line.batch_index,
        "fields": [
            {
                "name": name,
                "expected": str(expected[name]),
                "actual": "" if line.actual is None else str(line.actual[name]),
                "differs": name in line.differs,
            }
            for name in POSITION_FIELDS
        ],
        "differs": line.differs,
        "transaction": line.transaction,
        "flagged": line.status == "mismatch",
    }


def _amount(value: int, decimals: int | None) -> str:
    """Base units with separators, and the token amount when the decimals are known: ``1,500,000 (1.5)``."""
    if decimals:
        return f"{value:,} ({format_units(value, decimals)})"
    return f"{value:,}"
