"""Reads of Snapshot venues, the proposals published to them, and their votes."""

from django.db.models import QuerySet

from governance.models import SnapshotProposal, SnapshotProposalStatus, SnapshotVenue, SnapshotVote
from governance.snapshot_errors import SnapshotProposalNotFound, SnapshotVenueNotFound


def list_snapshot_venues() -> QuerySet[SnapshotVenue]:
    return SnapshotVenue.objects.order_by("pk")


def get_snapshot_venue(venue_id: int) -> SnapshotVenue:
    """The Snapshot venue ``venue_id``; ``SnapshotVenueNotFound`` (404) when there is none."""
    try:
        return SnapshotVenue.objects.get(pk=venue_id)
    except SnapshotVenue.DoesNotExist:
        raise SnapshotVenueNotFound(f"there is no Snapshot venue {venue_id}", venue=venue_id) from None


def get_snapshot_venue_by_space(space: str) -> SnapshotVenue:
    """The (first) Snapshot venue of space ``space``; ``SnapshotVenueNotFound`` (404) naming the known spaces."""
    venue = SnapshotVenue.objects.filter(space=space).order_by("pk").first()
    if venue is None:
        known = ", ".join(SnapshotVenue.objects.order_by("space").values_list("space", flat=True).distinct()) or "none"
        raise SnapshotVenueNotFound(
            f"there is no Snapshot venue for space {space!r} (known spaces: {known}); add it with "
            "`manage.py venue add snapshot`",
            space=space,
        )
    return venue


def list_snapshot_proposals() -> QuerySet[SnapshotProposal]:
    """Every Snapshot proposal, newest first, with its venue and document loaded."""
    return SnapshotProposal.objects.select_related("venue", "document").order_by("-pk")


def list_snapshot_proposals_of_document(*, proposal_id: int) -> QuerySet[SnapshotProposal]:
    return list_snapshot_proposals().filter(document_id=proposal_id)


def get_snapshot_proposal(snapshot_proposal_id: int) -> SnapshotProposal:
    """The Snapshot proposal row with its venue and document; ``SnapshotProposalNotFound`` (404)."""
    try:
        return list_snapshot_proposals().get(pk=snapshot_proposal_id)
    except SnapshotProposal.DoesNotExist:
        raise SnapshotProposalNotFound(
            f"there is no Snapshot proposal {snapshot_proposal_id}", snapshot_proposal=snapshot_proposal_id
        ) from None


def find_snapshot_proposal(*, proposal_id: int, venue_id: int) -> SnapshotProposal | None:
    """The Snapshot proposal of document ``proposal_id`` in venue ``venue_id``, if it was published there."""
    return list_snapshot_proposals().filter(document_id=proposal_id, venue_id=venue_id).first()


def list_snapshot_votes(*, snapshot_proposal_id: int) -> QuerySet[SnapshotVote]:
    """The stored (current) votes of a Snapshot proposal, oldest first; 404 for an unknown proposal."""
    get_snapshot_proposal(snapshot_proposal_id)
    return SnapshotVote.objects.filter(proposal_id=snapshot_proposal_id).order_by("created", "pk")


def snapshot_proposals_to_follow() -> list[int]:
    """Ids of the Snapshot proposals created on the hub whose outcome is not known yet, oldest first."""
    rows = SnapshotProposal.objects.filter(status=SnapshotProposalStatus.CREATED, outcome="")
    return list(rows.order_by("pk").values_list("pk", flat=True))
