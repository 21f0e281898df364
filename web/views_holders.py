"""The holders' read-only pages: the proposals list, a proposal page and "my account".

Anyone may read them (no sign-in). They read through ``web/selectors_holders.py`` and only
format: every amount is an integer of base units shown with thousands separators, and in token
units beside it when the decimals are known (``format_units``: exact, no float). An unknown
document, asset or address is a 404 page saying which; a malformed search a 400 page saying why.
"""

from html import escape
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from proposals.document import format_units
from web import selectors_holders as selectors
from web.access import not_found
from web.charts import Bar, bar_chart_svg
from web.views_siwe import holder_address


def proposals_list(request: HttpRequest) -> HttpResponse:
    """``/proposals/``: every published proposal, newest first, with venue, state, time left and tally."""
    page, rows = selectors.list_published_proposals(page=request.GET.get("page"))
    return render(
        request,
        "web/proposals_list.html",
        {"page": page, "rows": [_proposal_row(row) for row in rows], "nav": "proposals"},
    )


def proposal_detail(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """``/proposals/<id>/``: what happened, the content hash, totals, chart, changes, policy, tallies, accounts."""
    head = selectors.find_proposal_head(proposal_id=proposal_id)
    if head is None:
        return not_found(request, f"There is no proposal document {proposal_id}.")
    document, analysis_key = head.document, head.analysis_key
    view = selectors.proposal_view(document, head=head)
    plan_asset = selectors.get_plan_asset(
        plan_id=document.plan_id, asset=request.GET.get("asset", ""), analysis_key=analysis_key
    )
    if request.GET.get("asset") and plan_asset is None:
        return not_found(request, f"Proposal {proposal_id} pays no asset {request.GET['asset']}.")
    decimals = {entry.asset: entry.decimals for entry in view.assets}
    context: dict[str, Any] = {
        "document": document,
        "doc": view.body,
        "document_url": reverse("proposal-document", args=[document.pk]),
        "assets": [_asset_totals(entry) for entry in view.assets],
        "charts": [
            _loss_chart(
                analysis_id=head.analysis_id,
                analysis_key=analysis_key,
                asset=entry.asset,
                decimals=entry.decimals,
                index=index,
            )
            for index, entry in enumerate(view.assets)
        ],
        "changes": view.body.get("parameter_changes", []),
        "venues": [_venue(status) for status in view.venues],
        "rehearsal": view.rehearsal,
        "plan_assets": [entry.asset for entry in view.assets],
        "nav": "proposals",
    }
    status = 200
    if plan_asset is not None:
        table, status = _accounts_table(request, head, plan_asset, decimals.get(plan_asset.asset))
        context["table"] = table
    return render(request, "web/proposal_detail.html", context, status=status)


def proposal_account(request: HttpRequest, proposal_id: int, address: str) -> HttpResponse:
    """``/proposals/<id>/accounts/<address>/``: position, allocation, proof (checked in the browser) and the claim.

    The root a proof is checked against is the frozen document's (its canonical bytes, the ones
    voted on). A pull plan's allocation gets a claim button when the chain says it can be claimed
    now; otherwise the page says why not (already claimed, not approved yet, past the deadline...).
    """
    head = selectors.find_proposal_head(proposal_id=proposal_id)
    if head is None:
        return not_found(request, f"There is no proposal document {proposal_id}.")
    document = head.document
    account = selectors.parse_address(address)
    if account is None:
        return not_found(request, f"{address} is not an address: 0x followed by 40 hex digits.")
    position = selectors.account_in_plan(plan_id=document.plan_id, account=account)
    if position is None:
        message = f"{account} is not affected by proposal {proposal_id}: it has no loss and no allocation."
        return not_found(request, message)
    published = selectors.published_assets(document)
    assets = []
    for entry in position["assets"]:
        facts = published.get(entry["asset"])
        decimals = facts.decimals if facts else None
        row = {**entry, **_position_texts(entry, decimals)}
        row["published_root"] = facts.allocation_root if facts else ""
        row["root_differs"] = (
            bool(facts) and (facts.allocation_root or "").lower() != (entry["allocation_root"] or "").lower()
        )
        if entry["leaf"] is not None and int(entry["allocation"]) > 0:
            claim = selectors.claim_state(document=document, asset=entry["asset"], leaf_index=entry["leaf_index"])
            payout_decimals = facts.payout_decimals if facts else None
            units = format_units(int(entry["allocation"]), payout_decimals) if payout_decimals else entry["allocation"]
            token = claim.symbol or f"of token {facts.payout_token if facts else ''}".strip()
            row["claim_state"] = claim
            row["claim_label"] = f"Claim {units} {token}"
        if entry.get("margin"):
            row["margin_texts"] = _margin_texts(entry["margin"], facts.payout_decimals if facts else None)
        if entry.get("restore"):
            row["restore_texts"] = _restore_texts(entry["restore"]["row"], facts.payout_decimals if facts else None)
        assets.append(row)
    return render(
        request,
        "web/proposal_account.html",
        {"document": document, "account": account, "assets": assets, "nav": "proposals"},
    )


def my_account(request: HttpRequest) -> HttpResponse:
    """``/me/``: every published proposal affecting the signed-in holder, or the address searched for.

    Not signed in and no search: a page saying how to sign in, with the search box (200, no
    redirect). A search that is not an address: the form again with the message, 400.
    """
    query = request.GET.get("address", "").strip()
    context: dict[str, Any] = {"query": query, "nav": "me"}
    if "address" in request.GET:
        account = selectors.parse_address(query)
        if account is None:
            context["error"] = f"{query or 'An empty search'} is not an address: 0x followed by 40 hex digits."
            return render(request, "web/my_account.html", context, status=400)
        context["searched"] = True
    else:
        account = holder_address(request)
    if account is not None:
        context["account"] = account
        context["proposals"] = [
            _account_in_proposal(document, position, account)
            for document, position in selectors.positions_in_published_proposals(account=account)
        ]
    return render(request, "web/my_account.html", context)


def _account_in_proposal(document: Any, position: dict[str, Any], account: str) -> dict[str, Any]:
    decimals = selectors.asset_decimals(document)
    return {
        "document": document,
        "url": reverse("holder-proposal-account", args=[document.pk, account]),
        "assets": [{**entry, **_position_texts(entry, decimals.get(entry["asset"]))} for entry in position["assets"]],
    }


def _position_texts(entry: dict[str, Any], decimals: int | None) -> dict[str, str]:
    return {
        "before_text": _amount(int(entry["before"]), decimals),
        "after_text": _amount(int(entry["after"]), decimals),
        "delta_text": _amount(int(entry["delta"]), decimals),
        "claim_text": _amount(int(entry["claim"]), decimals),
        "allocation_text": _amount(int(entry["allocation"]), decimals),
    }


# A margin market's USD amounts have 6 decimals and its prices the feed's 8 (chain.margin).
_USD_DECIMALS = 6
_PRICE_DECIMALS = 8


def _margin_texts(margin: dict[str, Any], asset_decimals: int | None) -> dict[str, Any]:
    """The account's valuation on a margin market, in USD with its exact base units."""
    return {
        "net_value_before": _amount(int(margin["net_value_before"]), _USD_DECIMALS) + " USD",
        "net_value_after": _amount(int(margin["net_value_after"]), _USD_DECIMALS) + " USD",
        "lost_net_value": _amount(int(margin["lost_net_value"]), _USD_DECIMALS) + " USD",
        "liquidations": [
            {
                **entry,
                "price_text": format_units(int(entry["price"]), _PRICE_DECIMALS),
                "penalty_text": _amount(int(entry["penalty"]), _USD_DECIMALS) + " USD",
                "seized_text": _amount(int(entry["seized_collateral"]), asset_decimals),
            }
            for entry in margin["liquidations"]
        ],
    }


def _restore_texts(row: dict[str, str], asset_decimals: int | None) -> list[tuple[str, str]]:
    """The restored position's fields as (label, value) pairs: exact base units, the amount beside them."""
    size = int(row["size"])
    side = "long" if size > 0 else "short" if size < 0 else "none"
    return [
        ("Collateral", _amount(int(row["collateral"]), asset_decimals)),
        ("Debt (credit, USD)", _amount(int(row["debt"]), _USD_DECIMALS)),
        ("Perpetual position", f"{side}, size {_amount(size, _USD_DECIMALS)}"),
        ("Entry price", format_units(int(row["entry_price"]), _PRICE_DECIMALS) if size else "—"),
        ("Margin", _amount(int(row["margin"]), asset_decimals)),
        ("Funding owed at the rollback block", f"{int(row['funding_debt']):,} (1e18 scale)"),
    ]


# --- formatting (presentation only) ---

_ADDRESS_SLOT = "0x" + "0" * 40


def _accounts_table(
    request: HttpRequest, head: selectors.ProposalHead, plan_asset: Any, decimals: int | None
) -> tuple[dict, int]:
    query = request.GET.get("q", "")
    try:
        prefix = selectors.parse_address_prefix(query)
    except selectors.InvalidSearch as error:
        return {"asset": plan_asset.asset, "q": query, "error": str(error), "rows_html": ""}, 400
    page, rows = selectors.affected_accounts_page(
        plan_asset=plan_asset,
        analysis_id=head.analysis_id,
        prefix=prefix,
        page=request.GET.get("page"),
        analysis_key=head.analysis_key,
    )
    return {
        "asset": plan_asset.asset,
        "q": query,
        "page": page,
        "query": urlencode({"asset": plan_asset.asset, "q": query}) + "&",
        "rows_html": _accounts_rows_html(head.document.pk, rows, decimals),
    }, 200


def _accounts_rows_html(document_id: int, rows: list[selectors.AffectedAccount], decimals: int | None) -> SafeString:
    """The table's rows as HTML: a ``<tr>`` per account, with the link to its page.

    Built here rather than by a template loop (or ``format_html``): 50 rows of six values each
    were about 3 ms of the template engine's work per page under load (a variable lookup and an
    escape per value), and this is the same markup in a few tenths of a millisecond. The account
    and the link are escaped by ``html.escape`` (what Django's ``escape`` calls); an amount is made
    here from an ``int`` (digits, commas, a dot, brackets, a space): nothing in it to escape.
    One reverse() for the links.
    """
    link = reverse("holder-proposal-account", args=[document_id, _ADDRESS_SLOT])
    lines = []
    for row in rows:
        account = escape(row.account)
        amounts = [_amount(value, decimals) for value in (row.before, row.after, row.loss)]
        allocation = "none" if row.allocation is None else _amount(row.allocation, decimals)
        lines.append(
            f'<tr><td><a class="mono" href="{escape(link.replace(_ADDRESS_SLOT, row.account))}">{account}</a></td>'
            f'<td class="num">{amounts[0]}</td><td class="num">{amounts[1]}</td><td class="num">{amounts[2]}</td>'
            f'<td class="num">{allocation}</td></tr>'
        )
    return mark_safe("\n".join(lines))  # noqa: S308 (every value above is escaped or made of digits)


def _amount(value: int, decimals: int | None) -> str:
    """Base units with separators, and the token amount when the decimals are known: ``1,500,000 (1.5)``."""
    if decimals:
        return f"{value:,} ({format_units(value, decimals)})"
    return f"{value:,}"


def _proposal_row(row: selectors.ProposalRow) -> dict[str, Any]:
    return {
        "document_id": row.document_id,
        "url": reverse("holder-proposal", args=[row.document_id]),
        "title": row.title,
        "plan_version": row.plan_version,
        "created_at": row.created_at,
        "venue": _venue(row.venue),
    }


def _venue(status: selectors.VenueStatus) -> dict[str, Any]:
    return {
        "kind": "Governor" if status.kind == "governor" else "Snapshot",
        "name": status.venue,
        "proposal_id": status.proposal_id,
        "state": status.state,
        "for": f"{status.for_votes:,}",
        "against": f"{status.against_votes:,}",
        "abstain": f"{status.abstain_votes:,}",
        "quorum": None if status.quorum is None else f"{status.quorum:,}",
        "counted": f"{status.quorum_counted:,}",
        "percent": status.quorum_progress_percent,
        "reached": status.quorum_reached,
        "time_left": status.time_left,
        "votes": status.votes,
        "outcome": status.outcome,
    }


def _asset_totals(entry: selectors.AssetTotals) -> dict[str, Any]:
    return {
        "asset": entry.asset,
        "payout_token": entry.payout_token,
        "losers": "unknown" if entry.losers is None else f"{entry.losers:,}",
        "losses": "unknown" if entry.total_losses is None else _amount(entry.total_losses, entry.decimals),
        "claims": _amount(entry.total_claims, entry.decimals),
        "allocated": _amount(entry.total_allocated, entry.decimals),
        "budget": "full claims" if entry.budget is None else _amount(entry.budget, entry.decimals),
        "recipients": "unknown" if entry.recipients is None else f"{entry.recipients:,}",
        "dust": f"{entry.dust_count:,} accounts, {_amount(entry.dust_total, entry.decimals)}",
        "batches": entry.batch_count,
    }


def _loss_chart(
    *, analysis_id: int, analysis_key: str | None, asset: str, decimals: int | None, index: int
) -> dict[str, Any]:
    bins = selectors.loss_histogram(analysis_id=analysis_id, asset=asset, analysis_key=analysis_key)
    unit = f"token units ({decimals} decimals)" if decimals else "base units"
    rows = [
        {
            "low": _amount(b.low, decimals),
            "high": _amount(b.high, decimals),
            "accounts": f"{b.accounts:,}",
            "label": f"{_short(b.low, decimals)} to {_short(b.high, decimals)}",
        }
        for b in bins
    ]
    total = sum(b.accounts for b in bins)
    svg = bar_chart_svg(
        [Bar(row["label"], b.accounts) for row, b in zip(rows, bins, strict=True)],
        chart_id=f"loss-chart-{index}",
        title=f"Losses of {asset}: accounts per size of loss",
        description=(
            f"{total:,} accounts lost {asset}. Each bar counts the accounts whose loss lies in one range, "
            f"each range ten times the one before, in {unit}; the table below gives the same numbers."
        ),
        axis_label=f"loss, {unit}",
    )
    return {"asset": asset, "svg": svg, "rows": rows, "total": f"{total:,}"}


def _short(value: int, decimals: int | None) -> str:
    return format_units(value, decimals) if decimals else f"{value:,}"
