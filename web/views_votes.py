"""The holders' vote panel's live part: one venue's tally and the voter's standing, as a fragment htmx polls.

Anyone may read it (the tally is public). The voter is the signed-in holder (Sign-In with
Ethereum), or the address the page's wallet connected, given as ``?voter=``. While the venue
takes votes the fragment asks htmx to fetch it again; once voting ends it comes back without
``hx-trigger``, so polling stops.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from proposals.document import format_units
from web import selectors_holders, selectors_votes
from web.access import not_found
from web.views_siwe import holder_address

POLL_SECONDS = 3


@require_GET
def venue_tally(request: HttpRequest, proposal_id: int, kind: str, pk: int) -> HttpResponse:
    """``/proposals/<id>/venues/<kind>/<pk>/tally/``: the venue's live tally and the voter's vote (a fragment)."""
    row = selectors_votes.find_venue(document_id=proposal_id, kind=kind, pk=pk)
    if row is None:
        message = f"Proposal {proposal_id} has no {kind} venue {pk}."
        return not_found(request, message)
    given = request.GET.get("voter", "")
    voter = selectors_holders.parse_address(given) if given else None
    if given and voter is None:
        return render(
            request,
            "web/_vote_tally.html",
            {"error": f"{given} is not an address: 0x followed by 40 hex digits."},
            status=400,
        )
    context = panel_context(request, row, voter=voter)
    return render(request, "web/_vote_tally.html", context)


def panel_context(request: HttpRequest | None, row: selectors_votes.VenueRow, *, voter: str | None) -> dict[str, Any]:
    """What ``_vote_panel.html`` and ``_vote_tally.html`` show of ``row`` for ``voter`` (None: the signed-in holder)."""
    signed_in = holder_address(request) if request is not None and hasattr(request, "session") else None
    voter = voter or signed_in
    window = selectors_votes.voting_window(row)
    status = selectors_votes.venue_status(row)
    standing = selectors_votes.voter_standing(row, voter=voter) if voter else None
    decimals = selectors_votes.vote_decimals(row)
    tally_url = window.tally_url + (f"?voter={voter}" if voter and voter != signed_in else "")
    power = None if standing is None else standing.power
    weight = None if standing is None or standing.vote is None else standing.vote.weight
    return {
        "window": window,
        "status": status,
        "decimals": decimals,
        "for_votes": _votes(status.for_votes, decimals),
        "against_votes": _votes(status.against_votes, decimals),
        "abstain_votes": _votes(status.abstain_votes, decimals),
        "quorum": None if status.quorum is None else _votes(status.quorum, decimals),
        "counted": _votes(status.quorum_counted, decimals),
        "standing": standing,
        "power": None if power is None else _votes(power, decimals),
        "vote_weight": None if weight is None else _votes(weight, decimals),
        "tally_url": tally_url,
        "poll": window.is_open,
        "poll_seconds": POLL_SECONDS,
    }


def _votes(value: int, decimals: int | None) -> dict[str, str]:
    """Votes in token units (exact) and in base units: ``{"units": "1,234.5", "base": "1,234,500,...,000"}``."""
    return {"units": format_units(value, decimals), "base": f"{value:,}"}
