"""Votes cast on a published proposal, as the governor logged them (the indexer's rows)."""

from django.db import models

from governance.models.publications import Publication
from recovery.fields import Uint256Field

__all__ = ["VoteRecord", "VoteSupport"]


class VoteSupport(models.IntegerChoices):
    """GovernorCountingSimple's ``VoteType``: the ``support`` byte of a vote."""

    AGAINST = 0, "Against"
    FOR = 1, "For"
    ABSTAIN = 2, "Abstain"


class VoteRecord(models.Model):
    """One ``VoteCast`` or ``VoteCastWithParams`` of the publication's proposal, past the confirmation depth.

    Stored with the block (number and hash), transaction and log index that carry it: when the
    block hash no longer matches the chain's, the row is rolled back and the blocks replayed.
    ``params`` is the 0x-hex of ``VoteCastWithParams``'s params (empty for ``VoteCast``).
    """

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="votes")
    voter = models.CharField(max_length=42, help_text="EIP-55 address of the voter")
    support = models.PositiveSmallIntegerField(choices=VoteSupport.choices)
    weight = Uint256Field(help_text="Votes counted, in the token's base units")
    reason = models.TextField(blank=True)
    with_params = models.BooleanField(default=False, help_text="Logged as VoteCastWithParams")
    params = models.TextField(blank=True, help_text="0x-hex of the params bytes (VoteCastWithParams)")
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["publication", "block_number", "log_index"], name="governance_one_vote_per_log"
            ),
        ]
        indexes = [models.Index(fields=["publication", "voter"], name="governance_vote_voter")]

    def __str__(self) -> str:
        return f"{self.voter} voted {self.get_support_display()} with {self.weight} at block {self.block_number}"
