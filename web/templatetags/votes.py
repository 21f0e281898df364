"""``{% vote_panel document venue %}``: the holder's voting controls under a venue's tally.

``venue`` is the dict ``web.views_holders._venue`` makes (kind "Governor"/"Snapshot", name,
proposal_id, state, tallies). The panel finds the venue's row, says whether it takes votes now
(or why not), shows the voter's power and recorded vote (the signed-in holder's), a live tally
htmx polls while voting is open, and the controls the page's wallet code (``vote.js``) drives.
"""

from typing import Any

from django import template

from web import selectors_votes
from web.views_votes import panel_context

register = template.Library()

_SCRIPTS_KEY = "web.vote_panel.scripts"


@register.inclusion_tag("web/_vote_panel.html", takes_context=True)
def vote_panel(context: Any, document: Any, venue: dict[str, Any]) -> dict[str, Any]:
    kind = selectors_votes.GOVERNOR if venue.get("kind") == "Governor" else selectors_votes.SNAPSHOT
    row = selectors_votes.find_venue_by_proposal(
        document_id=document.pk, kind=kind, proposal_id=str(venue.get("proposal_id") or "")
    )
    if row is None:
        return {"missing": True, "venue": venue}
    request = context.get("request")
    panel = panel_context(request, row, voter=None)
    # The scripts once per page, however many venues it shows.
    first = _SCRIPTS_KEY not in context.render_context
    context.render_context[_SCRIPTS_KEY] = True
    return {**panel, "document": document, "venue": venue, "load_scripts": first}
