"""``{% vote_panel document venue %}``: the holder's voting controls under a venue's tally."""

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("web/_vote_panel.html", takes_context=True)
def vote_panel(context: Any, document: Any, venue: dict[str, Any]) -> dict[str, Any]:
    return {"document": document, "venue": venue}
