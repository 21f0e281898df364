"""Reads of the governance app."""

from django.db.models import QuerySet

from governance.exceptions import VenueNotFound
from governance.models import GovernorVenue


def list_governor_venues() -> QuerySet[GovernorVenue]:
    return GovernorVenue.objects.order_by("pk")


def get_governor_venue(venue_id: int) -> GovernorVenue:
    try:
        return GovernorVenue.objects.get(pk=venue_id)
    except GovernorVenue.DoesNotExist:
        raise VenueNotFound(f"there is no venue {venue_id}", venue=venue_id) from None
