"""Snapshot: a space a proposal is put to off chain, the proposals published there, their votes,
and the one approval each passed proposal leads to on the RecoveryExecutor.

The hub's and sequencer's URLs may carry credentials: they are stored, but only ever shown
through ``chain.redaction.redact_url``.
"""

from django.conf import settings
from django.db import models

from proposals.models import ProposalDocument
from recovery.fields import Uint256Field

__all__ = [
    "ApproverKind",
    "SnapshotApproval",
    "SnapshotApprovalStatus",
    "SnapshotOutcome",
    "SnapshotProposal",
    "SnapshotProposalStatus",
    "SnapshotVenue",
    "SnapshotVote",
    "SnapshotVoteSubmission",
]


class ApproverKind(models.TextChoices):
    KEY = "key", "A key Lifeboat holds (holding APPROVER_ROLE)"
    SAFE = "safe", "A Safe whose owners sign a Transaction Builder batch"


class SnapshotVenue(models.Model):
    """A Snapshot space whose passed proposals are carried out by ``approver`` on one RecoveryExecutor.

    The space's settings are what the hub answered at ``probed_at``; ``venue add snapshot``
    reads them again. ``quorum`` is the space's quorum in the voting token's base units (the
    hub's number times ``10**token_decimals``); ``hub_quorum`` is the hub's number as it said it.
    """

    kind = "snapshot"

    space = models.CharField(max_length=100, help_text="The space id, e.g. lifeboat.eth")
    name = models.CharField(max_length=200, blank=True)
    chain_id = models.PositiveBigIntegerField(help_text="The space's network: where voting power is read")
    sequencer_url = models.CharField(max_length=500, help_text="Where signed messages are posted (secret-bearing)")
    hub_url = models.CharField(max_length=500, help_text="The hub's GraphQL endpoint (secret-bearing)")
    recovery_executor = models.CharField(max_length=42, help_text="EIP-55 address of the RecoveryExecutor")
    approver_kind = models.CharField(max_length=8, choices=ApproverKind.choices, default=ApproverKind.KEY)
    approver = models.CharField(max_length=42, help_text="The key's address or the Safe that sends approvePlan")
    token = models.CharField(max_length=42, blank=True, help_text="The erc20-votes strategy's token")
    token_decimals = models.PositiveSmallIntegerField(default=18)
    voting_delay = models.PositiveBigIntegerField(default=0, help_text="Seconds from creation to start")
    voting_period = models.PositiveBigIntegerField(default=0, help_text="Seconds from start to end")
    voting_type = models.CharField(max_length=40, blank=True, help_text="The type the space imposes ('' any)")
    quorum = Uint256Field(default=0, help_text="Voting power needed, in the token's base units")
    hub_quorum = models.CharField(max_length=100, blank=True, help_text="The space's quorum as the hub says it")
    authors = models.JSONField(default=list, help_text="Who may propose (admins, moderators, members)")
    only_members = models.BooleanField(default=False)
    strategies = models.JSONField(default=list)
    probed_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["hub_url", "space"], name="governance_one_venue_per_space")]

    def __str__(self) -> str:
        return f"snapshot space {self.space} (chain {self.chain_id})"

    @property
    def executor(self) -> str:
        """The account that carries a passed proposal out, and so must hold APPROVER_ROLE."""
        return self.approver


class SnapshotProposalStatus(models.TextChoices):
    # The signed proposal message is stored but the sequencer has not acknowledged it yet: a
    # retry posts exactly this envelope again (the hub refuses a duplicate; the id is known).
    SENDING = "sending", "Sending"
    CREATED = "created", "Created on the hub"
    FAILED = "failed", "Failed"


class SnapshotOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"


class SnapshotProposal(models.Model):
    """One proposal document published to one Snapshot space.

    ``envelope`` is the signed ``{address, sig, data}`` exactly as posted; ``proposal_id`` is
    its EIP-712 digest (the id the hub gives it). The followed fields are the hub's answers;
    the tally (``for_votes`` …) is Lifeboat's own, in base units, from each voter's
    ``getPastVotes`` at ``snapshot`` read from the chain.
    """

    document = models.ForeignKey(ProposalDocument, on_delete=models.PROTECT, related_name="snapshot_proposals")
    venue = models.ForeignKey(SnapshotVenue, on_delete=models.PROTECT, related_name="proposals")
    status = models.CharField(
        max_length=16, choices=SnapshotProposalStatus.choices, default=SnapshotProposalStatus.SENDING
    )
    proposal_id = models.CharField(max_length=66, blank=True, help_text="0x-hex EIP-712 digest of the message")
    envelope = models.JSONField(help_text="The signed message as posted: {address, sig, data}")
    author = models.CharField(max_length=42)
    timestamp = models.PositiveBigIntegerField()
    start = models.PositiveBigIntegerField()
    end = models.PositiveBigIntegerField()
    snapshot = models.PositiveBigIntegerField(help_text="The block voting power is read at")
    snapshot_block_hash = models.CharField(max_length=66)
    ipfs = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    # Followed from the hub.
    state = models.CharField(max_length=16, blank=True, help_text="pending, active or closed")
    scores = models.JSONField(default=list, help_text="The hub's scores per choice, as it said them")
    scores_total = models.CharField(max_length=100, blank=True)
    scores_state = models.CharField(max_length=16, blank=True)
    hub_quorum = models.CharField(max_length=100, blank=True)
    votes_count = models.PositiveIntegerField(default=0)
    for_votes = Uint256Field(default=0)
    against_votes = Uint256Field(default=0)
    abstain_votes = Uint256Field(default=0)
    vote_cursor = models.PositiveBigIntegerField(default=0, help_text="Votes created up to here are stored")
    outcome = models.CharField(max_length=16, choices=SnapshotOutcome.choices, blank=True)
    outcome_reason = models.TextField(blank=True)
    followed_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["document", "venue"], name="governance_one_snapshot_per_space"),
            models.UniqueConstraint(
                fields=["venue", "proposal_id"],
                condition=~models.Q(proposal_id=""),
                name="governance_one_snapshot_per_id",
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot proposal {self.pk} of document {self.document_id} in {self.venue.space}"


class SnapshotVote(models.Model):
    """A voter's current vote on a Snapshot proposal (a later vote replaces the earlier one).

    ``sig`` is the voter's signature over the Vote message whose digest is ``vote_id``;
    ``hub_vp`` the hub's voting power as it said it (a float, in token units); ``vp`` the
    exact ``getPastVotes`` at the proposal's snapshot block, in base units.
    """

    proposal = models.ForeignKey(SnapshotProposal, on_delete=models.CASCADE, related_name="votes")
    vote_id = models.CharField(max_length=66)
    voter = models.CharField(max_length=42)
    choice = models.PositiveIntegerField(help_text="1 For, 2 Against, 3 Abstain")
    reason = models.TextField(blank=True)
    app = models.CharField(max_length=100, blank=True)
    created = models.PositiveBigIntegerField(help_text="The message timestamp (unix seconds)")
    sig = models.TextField(blank=True)
    ipfs = models.CharField(max_length=100, blank=True)
    hub_vp = models.CharField(max_length=100, blank=True)
    vp = Uint256Field(null=True, blank=True)
    via_lifeboat = models.BooleanField(default=False, help_text="Submitted through Lifeboat's vote endpoint")
    recorded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created", "pk"]
        constraints = [models.UniqueConstraint(fields=["proposal", "voter"], name="governance_one_snapshot_vote")]
        indexes = [models.Index(fields=["proposal", "created"], name="governance_snapvote_created")]

    def __str__(self) -> str:
        return f"{self.voter} chose {self.choice} on snapshot proposal {self.proposal_id}"


class SnapshotVoteSubmission(models.Model):
    """One signed vote a voter had Lifeboat forward (its signature checked first): what the per-voter
    hourly limit (``SNAPSHOT_VOTES_PER_VOTER_PER_HOUR``) counts."""

    proposal = models.ForeignKey(SnapshotProposal, on_delete=models.CASCADE, related_name="submissions")
    voter = models.CharField(max_length=42)
    vote_id = models.CharField(max_length=66)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submitted_at", "pk"]
        indexes = [models.Index(fields=["voter", "submitted_at"], name="governance_snapvote_rate")]

    def __str__(self) -> str:
        return f"vote {self.vote_id} by {self.voter} forwarded at {self.submitted_at}"


class SnapshotApprovalStatus(models.TextChoices):
    SENDING = "sending", "Signed and stored, being sent"
    AWAITING_SAFE = "awaiting_safe", "Waiting for the Safe's owners"
    CONFIRMED = "confirmed", "Approved on chain"
    FAILED = "failed", "Failed"


class SnapshotApproval(models.Model):
    """The one approval a passed Snapshot proposal leads to: ``approvePlan`` per plan asset.

    With a key approver, each transaction is signed and stored here (``transactions``:
    ``{plan_asset, onchain_plan_id, tx_hash, nonce, raw, block_number, block_hash}``) before
    it is broadcast, so a retry re-sends the same bytes, never a second approval. With a Safe,
    ``safe_batch`` is the Transaction Builder file for its owners, and the approval is seen on
    chain when they execute it.
    """

    proposal = models.OneToOneField(SnapshotProposal, on_delete=models.PROTECT, related_name="approval")
    approver_kind = models.CharField(max_length=8, choices=ApproverKind.choices)
    approver = models.CharField(max_length=42)
    status = models.CharField(max_length=16, choices=SnapshotApprovalStatus.choices)
    transactions = models.JSONField(default=list)
    safe_batch = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"approval of snapshot proposal {self.proposal_id} ({self.status})"
