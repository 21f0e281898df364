"""Reads of the indexer's rows: publications to follow, their votes and stored tallies."""

from dataclasses import dataclass

from django.db.models import QuerySet

from governance.exceptions import PublicationNotFound
from governance.models import Publication, PublicationStatus
from governance.models.publications import ProposalState
from governance.models.votes import VoteRecord, VoteSupport

# A proposal in one of these states never changes again (short of a reorg past the confirmation depth).
FINAL_STATES = (ProposalState.CANCELED, ProposalState.DEFEATED, ProposalState.EXPIRED, ProposalState.EXECUTED)


@dataclass(frozen=True, slots=True)
class Tally:
    against_votes: int
    for_votes: int
    abstain_votes: int

    def as_json(self) -> dict[str, str]:
        return {"for": str(self.for_votes), "against": str(self.against_votes), "abstain": str(self.abstain_votes)}


def get_publication(publication_id: int) -> Publication:
    try:
        return Publication.objects.select_related("venue", "document").get(pk=publication_id)
    except Publication.DoesNotExist:
        raise PublicationNotFound(f"there is no publication {publication_id}", publication=publication_id) from None


def publications_to_follow() -> list[int]:
    """Ids of the publications created on chain whose proposal is not in a final state, oldest first."""
    rows = Publication.objects.filter(status=PublicationStatus.CREATED, proposal_id__isnull=False).exclude(
        state__in=FINAL_STATES
    )
    return list(rows.order_by("pk").values_list("pk", flat=True))


def list_votes(*, publication_id: int) -> QuerySet[VoteRecord]:
    get_publication(publication_id)
    return VoteRecord.objects.filter(publication_id=publication_id).order_by("block_number", "log_index")


def stored_tally(publication: Publication) -> Tally:
    return Tally(int(publication.against_votes), int(publication.for_votes), int(publication.abstain_votes))


def tally_of_records(*, publication_id: int) -> Tally:
    """The sum of the stored vote rows, per side, added in Python (Uint256Field must not be summed in SQL)."""
    sums = {VoteSupport.AGAINST: 0, VoteSupport.FOR: 0, VoteSupport.ABSTAIN: 0}
    for support, weight in VoteRecord.objects.filter(publication_id=publication_id).values_list("support", "weight"):
        sums[support] = sums.get(support, 0) + int(weight)
    return Tally(sums[VoteSupport.AGAINST], sums[VoteSupport.FOR], sums[VoteSupport.ABSTAIN])
