"""The committee's document pages: freeze a plan, preview the document, rehearse, sign off, publish.

Every view is for the committee role (``web/access.py``), GET and POST alike. Writes call the
same services as the API: ``freeze_proposal`` (``POST /api/plans/{id}/proposal/``),
``request_rehearsal`` and the ``run_rehearsal`` task (``POST /api/proposals/{id}/rehearsals/``),
``publish_proposal`` / ``publish_to_snapshot`` (``POST /api/proposals/{id}/publications/`` and
``.../snapshot/``). A sign-off is a wallet signature: ``web/static/web/signoff.js`` posts it to
``POST /api/proposals/{id}/signoffs/``. A refusal comes back on the document page, in words,
with the service's status (400 bad input, 409 a conflict with the current state, 503 the node
or the hub down); an unknown id is the 404 page.
"""

import html
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from config.errors import LifeboatError
from governance.publishing import publish_proposal
from governance.snapshot_publishing import publish_to_snapshot
from proposals import rehearsals, services, tasks_rehearsal
from proposals.document import format_units
from proposals.models import ProposalDocument, RehearsalStatus
from web import access
from web import selectors_documents as selectors
from web.access import committee_required

RUNNING = (RehearsalStatus.PENDING, RehearsalStatus.RUNNING)


# --- freeze (from the plan page) ---


@committee_required
@require_POST
def plan_freeze(request: HttpRequest, plan_id: int) -> HttpResponse:
    """``POST /plans/<id>/freeze/``: freeze the plan into its document (idempotent) and open it."""
    try:
        document, _ = services.freeze_proposal(plan_id=plan_id, frozen_by=request.user)
    except LifeboatError as error:
        if error.status == 404:
            return _not_found(request, f"There is no recovery plan {plan_id}.")
        return render(
            request,
            "web/committee/document_refused.html",
            {"message": error.message, "plan_id": plan_id, "nav": "incidents"},
            status=error.status,
        )
    return redirect("committee-document", document_id=document.pk)


# --- the document page ---


@committee_required
@require_GET
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    """``/documents/<id>/``: the content hash, the body as voters read it, then rehearsal, sign-off, publish."""
    document = selectors.find_document(document_id=document_id)
    if document is None:
        return _not_found(request, f"There is no proposal document {document_id}.")
    return _document_page(request, document)


@committee_required
@require_POST
def document_rehearse(request: HttpRequest, document_id: int) -> HttpResponse:
    """``POST /documents/<id>/rehearsals/`` (``venue``): request a rehearsal, run by a worker; → its report."""
    document = selectors.find_document(document_id=document_id)
    if document is None:
        return _not_found(request, f"There is no proposal document {document_id}.")
    venue_id = _positive_int(request.POST.get("venue", ""))
    venue = None if venue_id is None else selectors.find_governor_venue(document=document, venue_id=venue_id)
    if venue is None:
        message = "Choose one of the governor venues listed to rehearse on."
        return _document_page(request, document, errors={"rehearse": message}, status=400)
    try:
        rehearsal = rehearsals.request_rehearsal(
            proposal_id=document.pk, venue_id=venue.pk, rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user
        )
    except LifeboatError as error:
        return _document_page(request, document, errors={"rehearse": error.message}, status=error.status)
    tasks_rehearsal.run_rehearsal.delay_on_commit(rehearsal.pk)
    return redirect("committee-rehearsal", rehearsal_id=rehearsal.pk)


@committee_required
@require_POST
def document_publish(request: HttpRequest, document_id: int) -> HttpResponse:
    """``POST /documents/<id>/publish/`` (``venue`` = ``governor:ID`` or ``snapshot:ID``): publish there."""
    document = selectors.find_document(document_id=document_id)
    if document is None:
        return _not_found(request, f"There is no proposal document {document_id}.")
    kind, _, raw_id = request.POST.get("venue", "").partition(":")
    venue_id = _positive_int(raw_id)
    if kind == selectors.GOVERNOR and venue_id is not None:
        venue = selectors.find_governor_venue(document=document, venue_id=venue_id)
        publish = publish_proposal
    elif kind == selectors.SNAPSHOT and venue_id is not None:
        venue = selectors.find_snapshot_venue(document=document, venue_id=venue_id)
        publish = publish_to_snapshot
    else:
        venue = None
    if venue is None:
        message = "Choose one of the venues listed to publish to."
        return _document_page(request, document, errors={"publish": message}, status=400)
    try:
        publish(proposal_id=document.pk, venue_id=venue.pk, rpc_url=settings.CHAIN_RPC_URL, published_by=request.user)
    except LifeboatError as error:
        return _document_page(request, document, errors={"publish": error.message}, status=error.status)
    return redirect(reverse("committee-document", args=[document.pk]) + "#publish")


def _document_page(
    request: HttpRequest, document: ProposalDocument, *, errors: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    workflow = selectors.document_workflow(document=document, user=request.user)
    context: dict[str, Any] = {
        "document": document,
        "workflow": workflow,
        "doc": workflow.content,
        "assets": [_asset_row(entry) for entry in workflow.content.get("assets", [])],
        "body_html": render_body(document.body),
        "document_url": reverse("proposal-document", args=[document.pk]),
        "body_url": reverse("proposal-body", args=[document.pk]),
        "holders_url": reverse("holder-proposal", args=[document.pk]),
        "errors": errors or {},
        "posted_venue": request.POST.get("venue", "") if request.method == "POST" else "",
        "threshold": settings.SIGNOFF_THRESHOLD,
        "nav": "incidents",
    }
    return render(request, "web/committee/document_detail.html", context, status=status)


def _asset_row(entry: dict[str, Any]) -> dict[str, Any]:
    decimals = entry.get("decimals")
    budget = entry.get("budget")
    return {
        "asset": entry["asset"],
        "payout_token": entry.get("payout_token", entry["asset"]),
        "budget": "full claims" if budget is None else _amount(budget, decimals),
        "claims": _amount(entry["total_claims"], decimals),
        "allocated": _amount(entry["total_allocated"], decimals),
        "recipients": entry.get("recipients"),
        "batches": entry.get("batch_count", 0),
        "commitment_root": entry.get("commitment_root") or "",
        "allocation_root": entry.get("allocation_root") or "",
    }


def _amount(value: int | str, decimals: int | None) -> str:
    units = int(value)
    if decimals is None:
        return f"{units:,} base units"
    return f"{format_units(units, decimals)} ({units:,} base units)"


# --- the rehearsal report ---


@committee_required
@require_GET
def rehearsal_detail(request: HttpRequest, rehearsal_id: int) -> HttpResponse:
    """``/rehearsals/<id>/``: live status while it runs, then the report: fork, calls, batches, balances, verdict."""
    rehearsal = selectors.find_rehearsal(rehearsal_id=rehearsal_id)
    if rehearsal is None:
        return _not_found(request, f"There is no rehearsal {rehearsal_id}.")
    return render(request, "web/committee/document_rehearsal.html", _rehearsal_context(rehearsal))


@committee_required
@require_GET
def rehearsal_status(request: HttpRequest, rehearsal_id: int) -> HttpResponse:
    """``/rehearsals/<id>/status/``: the report fragment htmx polls; it stops polling once the rehearsal ends."""
    rehearsal = selectors.find_rehearsal(rehearsal_id=rehearsal_id)
    if rehearsal is None:
        return _not_found(request, f"There is no rehearsal {rehearsal_id}.")
    return render(request, "web/committee/document_rehearsal_report.html", _rehearsal_context(rehearsal))


def _rehearsal_context(rehearsal: Any) -> dict[str, Any]:
    report = rehearsal.report or {}
    return {
        "rehearsal": rehearsal,
        "document": rehearsal.proposal,
        "running": rehearsal.status in RUNNING,
        "report": report,
        "calls": report.get("calls", []),
        "batches": report.get("batches", []),
        "claims": report.get("claims", []),
        "balances": report.get("balances") or {},
        "failures": report.get("failures", []),
        "findings": report.get("findings", []),
        "stale": rehearsal.content_hash != rehearsal.proposal.content_hash,
        "nav": "incidents",
    }


# --- helpers ---


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    return access.not_found(request, message, nav="incidents")


def _positive_int(raw: str) -> int | None:
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18 or int(raw) == 0:
        return None
    return int(raw)


# --- the body: a small, safe Markdown subset ---

_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_BULLET = re.compile(r"^- (.*)$")
_NUMBERED = re.compile(r"^(\d+)\. (.*)$")
_CODE = re.compile(r"`([^`]+)`")


def render_body(markdown: str, *, shift: int = 2) -> SafeString:
    """The Markdown subset the document body uses, as HTML: headings (moved ``shift`` levels down, under the
    page's own), paragraphs, ``-`` and ``1.`` lists (an indented line continues an item) and `code` spans.

    Every character of the text is escaped first, so nothing in a body (an incident's description, a
    title) can add markup; the only tags are the ones written here.
    """
    out: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []
    list_tag = ""

    def close_paragraph() -> None:
        if paragraph:
            out.append(f"<p>{' '.join(paragraph)}</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_tag
        if items:
            out.append(f"<{list_tag}>" + "".join(f"<li>{'<br>'.join(i)}</li>" for i in items) + f"</{list_tag}>")
            items.clear()
        list_tag = ""

    for raw in markdown.splitlines():
        line = _inline(raw.strip())
        if not raw.strip():
            close_paragraph()
            close_list()
        elif heading := _HEADING.match(raw.strip()):
            close_paragraph()
            close_list()
            level = min(len(heading.group(1)) + shift, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif (bullet := _BULLET.match(raw.strip())) or (numbered := _NUMBERED.match(raw.strip())):
            close_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag != tag:
                close_list()
                list_tag = tag
            items.append([_inline(bullet.group(1) if bullet else numbered.group(2))])
        elif items and raw.startswith(" "):
            items[-1].append(line)
        else:
            close_list()
            paragraph.append(line)
    close_paragraph()
    close_list()
    return mark_safe("\n".join(out))  # noqa: S308 - every piece of text went through html.escape in _inline


def _inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text))
