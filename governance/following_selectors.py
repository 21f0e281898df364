"""Reads of the indexer's rows: a publication's votes and tallies (publications: ``governance/selectors.py``)."""

from dataclasses import dataclass

from django.db.models import QuerySet

from governance.models import Publication
from governance.models.votes import VoteRecord, VoteSupport
from governance.selectors import get_publication


@dataclass(frozen=True, slots=True)
class Tally:
    against_votes: int
    for_votes: int
    abstain_votes: int

    def as_json(self) -> dict[str, str]:
        return {"for": str(self.for_votes), "against": str(self.against_votes), "abstain": str(self.abstain_votes)}


def list_votes(*, publication_id: int) -> QuerySet[VoteRecord]:
    get_publication(publication_id=publication_id)
    return VoteRecord.objects.filter(publication_id=publication_id).order_by("block_number", "log_index")


def stored_tally(publication: Publication) -> Tally:
    return Tally(int(publication.against_votes), int(publication.for_votes), int(publication.abstain_votes))


def tally_of_records(*, publication_id: int) -> Tally:
    """The sum of the stored vote rows, per side, added in Python (Uint256Field must not be summed in SQL)."""
    sums = {VoteSupport.AGAINST: 0, VoteSupport.FOR: 0, VoteSupport.ABSTAIN: 0}
    for support, weight in VoteRecord.objects.filter(publication_id=publication_id).values_list("support", "weight"):
        sums[support] = sums.get(support, 0) + int(weight)
    return Tally(sums[VoteSupport.AGAINST], sums[VoteSupport.FOR], sums[VoteSupport.ABSTAIN])
