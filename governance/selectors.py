"""Reads of the governance app: venues and publications (a proposal document put to a venue)."""

from django.db.models import QuerySet

from governance.exceptions import PublicationNotFound, VenueNotFound
from governance.models import GovernorVenue, Publication, PublicationStatus
from governance.models.publications import ProposalState

# A proposal in one of these states never changes again (short of a reorg past the confirmation depth).
FINAL_STATES = (ProposalState.CANCELED, ProposalState.DEFEATED, ProposalState.EXPIRED, ProposalState.EXECUTED)


def list_governor_venues() -> QuerySet[GovernorVenue]:
    return GovernorVenue.objects.order_by("pk")


def get_governor_venue(venue_id: int) -> GovernorVenue:
    try:
        return GovernorVenue.objects.get(pk=venue_id)
    except GovernorVenue.DoesNotExist:
        raise VenueNotFound(f"there is no venue {venue_id}", venue=venue_id) from None


# --- publications ---


def list_publications() -> QuerySet[Publication]:
    """Every publication, newest first, with its venue and document loaded."""
    return Publication.objects.select_related("venue", "document").order_by("-pk")


def list_publications_of_proposal(*, proposal_id: int) -> QuerySet[Publication]:
    return list_publications().filter(document_id=proposal_id)


def get_publication(*, publication_id: int) -> Publication:
    """The publication with its venue and document; ``PublicationNotFound`` (404) when there is none."""
    try:
        return list_publications().get(pk=publication_id)
    except Publication.DoesNotExist:
        raise PublicationNotFound(f"there is no publication {publication_id}", publication=publication_id) from None


def find_publication(*, proposal_id: int, venue_id: int) -> Publication | None:
    """The publication of document ``proposal_id`` on venue ``venue_id``, if it was published there."""
    return list_publications().filter(document_id=proposal_id, venue_id=venue_id).first()


def find_publication_for_ballot(*, chain_id: int, governor: str, proposal_id: int) -> Publication | None:
    """The publication of ``proposal_id`` on the governor at ``governor`` of ``chain_id``, if Lifeboat published it."""
    return (
        Publication.objects.select_related("venue")
        .filter(venue__chain_id=chain_id, venue__governor=governor, proposal_id=proposal_id)
        .first()
    )


def publications_to_follow() -> list[int]:
    """Ids of the publications created on chain whose proposal is not in a final state, oldest first."""
    rows = Publication.objects.filter(status=PublicationStatus.CREATED, proposal_id__isnull=False).exclude(
        state__in=FINAL_STATES
    )
    return list(rows.order_by("pk").values_list("pk", flat=True))


def publications_to_advance() -> list[int]:
    """Ids of the publications created on chain and not executed yet, oldest first."""
    rows = Publication.objects.filter(status=PublicationStatus.CREATED, execute_tx_hash="")
    return list(rows.order_by("pk").values_list("pk", flat=True))
