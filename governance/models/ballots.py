"""Gasless ballots: a holder's signed OpenZeppelin v5 ``Ballot`` relayed to the governor by Lifeboat."""

from django.db import models

from governance.models.publications import Publication
from recovery.fields import Uint256Field

__all__ = ["BallotRelay", "BallotRelayStatus", "BallotSignatureKind"]


class BallotRelayStatus(models.TextChoices):
    # Stored with the signed relay transaction before it is broadcast (an outbox): a retry sends
    # exactly these bytes again, never a second transaction.
    SENDING = "sending", "Sending"
    RELAYED = "relayed", "Relayed (VoteCast seen)"
    FAILED = "failed", "Failed"


class BallotSignatureKind(models.TextChoices):
    ECDSA = "ecdsa", "ECDSA (an account)"
    EIP1271 = "eip1271", "EIP-1271 (a contract wallet)"


class BallotRelay(models.Model):
    """One voter's signed ballot on one publication, and the transaction that cast it.

    ``digest`` is the EIP-712 digest the voter signed, under the governor's domain read at
    ``checked_block`` (``checked_block_hash``), where every check passed. ``primary_type`` is
    ``Ballot`` or ``ExtendedBallot`` (then ``reason`` and ``params`` were signed too).
    ``relayer_nonce`` and ``signed_tx`` are the relay transaction's, stored before it is sent.
    ``weight`` is the voter's votes as the governor's ``VoteCast`` event counted them; the tally
    itself is the indexer's, which counts events past the confirmation depth.
    """

    publication = models.ForeignKey(Publication, on_delete=models.PROTECT, related_name="ballots")
    chain_id = models.PositiveBigIntegerField()
    governor = models.CharField(max_length=42)
    proposal_id = Uint256Field()
    voter = models.CharField(max_length=42, help_text="EIP-55 address of the voter")
    support = models.PositiveSmallIntegerField(help_text="0 against, 1 for, 2 abstain")
    primary_type = models.CharField(max_length=16, help_text="Ballot or ExtendedBallot")
    reason = models.TextField(blank=True)
    params = models.TextField(blank=True, help_text="0x-hex; ExtendedBallot only")
    nonce = Uint256Field(help_text="The voter's governor nonce the ballot consumes")
    signature = models.TextField(help_text="0x-hex, as relayed")
    kind = models.CharField(max_length=8, choices=BallotSignatureKind.choices)
    digest = models.CharField(max_length=66, help_text="0x + the EIP-712 digest signed")
    status = models.CharField(max_length=8, choices=BallotRelayStatus.choices, default=BallotRelayStatus.SENDING)
    checked_block = models.PositiveBigIntegerField()
    checked_block_hash = models.CharField(max_length=66)
    relayer = models.CharField(max_length=42)
    relayer_nonce = models.PositiveBigIntegerField()
    signed_tx = models.BinaryField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    log_index = models.PositiveIntegerField(null=True, blank=True)
    weight = Uint256Field(null=True, blank=True)
    error = models.TextField(blank=True)
    # The last attempt to relay (a failed ballot may be signed again and retried): what the
    # per-voter rate limit counts.
    attempted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["publication", "voter"], name="one_ballot_relay_per_voter"),
        ]
        indexes = [models.Index(fields=["voter", "attempted_at"], name="ballot_relay_voter_attempted")]

    def __str__(self) -> str:
        return f"ballot of {self.voter} on publication {self.publication_id} ({self.status})"
