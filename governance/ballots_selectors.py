"""Reads of relayed ballots."""

from django.db.models import QuerySet

from governance.exceptions import BallotNotFound
from governance.models import BallotRelay, Publication


def list_ballots(*, publication_id: int) -> QuerySet[BallotRelay]:
    return BallotRelay.objects.filter(publication_id=publication_id).order_by("pk")


def get_ballot(*, ballot_id: int) -> BallotRelay:
    try:
        return BallotRelay.objects.get(pk=ballot_id)
    except BallotRelay.DoesNotExist:
        raise BallotNotFound(f"there is no ballot {ballot_id}", ballot=ballot_id) from None


def find_publication_for_ballot(*, chain_id: int, governor: str, proposal_id: int) -> Publication | None:
    """The publication of ``proposal_id`` on the governor at ``governor`` of ``chain_id``, if Lifeboat published it."""
    return (
        Publication.objects.select_related("venue")
        .filter(venue__chain_id=chain_id, venue__governor=governor, proposal_id=proposal_id)
        .first()
    )
