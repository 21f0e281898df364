"""Reads of relayed ballots."""

from django.db.models import QuerySet

from governance.exceptions import BallotNotFound
from governance.models import BallotRelay


def list_ballots(*, publication_id: int) -> QuerySet[BallotRelay]:
    return BallotRelay.objects.filter(publication_id=publication_id).order_by("pk")


def get_ballot(*, ballot_id: int) -> BallotRelay:
    try:
        return BallotRelay.objects.get(pk=ballot_id)
    except BallotRelay.DoesNotExist:
        raise BallotNotFound(f"there is no ballot {ballot_id}", ballot=ballot_id) from None
