"""Reads of publications (a proposal document put to a governor)."""

from django.db.models import QuerySet

from governance.exceptions import PublicationNotFound
from governance.models import Publication


def list_publications() -> QuerySet[Publication]:
    return Publication.objects.select_related("venue", "document").order_by("-pk")


def list_publications_of_proposal(*, proposal_id: int) -> QuerySet[Publication]:
    return list_publications().filter(document_id=proposal_id)


def get_publication(*, publication_id: int) -> Publication:
    try:
        return list_publications().get(pk=publication_id)
    except Publication.DoesNotExist:
        raise PublicationNotFound(f"there is no publication {publication_id}", publication=publication_id) from None


def find_publication(*, proposal_id: int, venue_id: int) -> Publication | None:
    return list_publications().filter(document_id=proposal_id, venue_id=venue_id).first()
