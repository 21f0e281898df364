"""A proposal document put to a governor venue, and the plan approvals its passage produced."""

from django.conf import settings
from django.db import models

from governance.models.venues import GovernorVenue
from proposals.models import ProposalDocument
from recovery.fields import Uint256Field
from recovery.models import PlanAsset


class PublicationStatus(models.TextChoices):
    # The propose transaction is signed and stored (its hash known) but not yet seen mined:
    # a retry re-sends exactly these bytes, never a second proposal.
    SENDING = "sending", "Sending"
    CREATED = "created", "Created on chain"
    FAILED = "failed", "Failed"


class ProposalState(models.TextChoices):
    """IGovernor.ProposalState, in the enum's order (the index is what ``state(id)`` returns)."""

    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    CANCELED = "canceled", "Canceled"
    DEFEATED = "defeated", "Defeated"
    SUCCEEDED = "succeeded", "Succeeded"
    QUEUED = "queued", "Queued"
    EXPIRED = "expired", "Expired"
    EXECUTED = "executed", "Executed"


class Publication(models.Model):
    """One proposal document proposed on one governor: the exact calls, description and on-chain id.

    ``actions`` are the proposal's calls as sent: the plan's parameter changes, then one
    ``approvePlan`` per plan asset, each ``{target, value, calldata, signature, summary}`` with
    the value as a decimal string. ``proposal_id`` is computed before sending (``hashProposal``)
    or, on a sequential governor, read from ``ProposalCreated``. The vote's state and tally are
    the indexer's, counted only from events past the confirmation depth.
    """

    document = models.ForeignKey(ProposalDocument, on_delete=models.PROTECT, related_name="publications")
    venue = models.ForeignKey(GovernorVenue, on_delete=models.PROTECT, related_name="publications")
    status = models.CharField(max_length=16, choices=PublicationStatus.choices, default=PublicationStatus.SENDING)
    proposal_id = Uint256Field(null=True, blank=True, help_text="The governor's proposal id")
    description = models.TextField()
    description_hash = models.CharField(max_length=66, help_text="0x + keccak256 of the description")
    actions = models.JSONField(help_text="The proposal's calls: target, value, calldata, signature, summary")
    proposer = models.CharField(max_length=42)
    tx_hash = models.CharField(max_length=66, blank=True, help_text="The propose transaction")
    signed_tx = models.BinaryField(null=True, blank=True, help_text="The signed propose transaction, re-sent on retry")
    nonce = models.PositiveBigIntegerField(null=True, blank=True, help_text="The proposer's nonce the signed tx uses")
    sent_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The head block when the propose was signed: retries look for it from here"
    )
    created_block = models.PositiveBigIntegerField(null=True, blank=True)
    created_block_hash = models.CharField(max_length=66, blank=True)
    error = models.TextField(blank=True)
    # Followed from the chain (the indexer's work).
    state = models.CharField(max_length=16, choices=ProposalState.choices, blank=True)
    vote_start = models.PositiveBigIntegerField(null=True, blank=True, help_text="proposalSnapshot (clock units)")
    vote_end = models.PositiveBigIntegerField(null=True, blank=True, help_text="proposalDeadline (clock units)")
    eta = models.PositiveBigIntegerField(null=True, blank=True, help_text="proposalEta, once queued")
    for_votes = Uint256Field(default=0)
    against_votes = Uint256Field(default=0)
    abstain_votes = Uint256Field(default=0)
    followed_block = models.PositiveBigIntegerField(null=True, blank=True, help_text="Last block indexed")
    followed_block_hash = models.CharField(max_length=66, blank=True)
    queue_tx_hash = models.CharField(max_length=66, blank=True)
    execute_tx_hash = models.CharField(max_length=66, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Who had Lifeboat send the queue and execute transactions, and when: empty when the step
    # was sent by anyone else (it is then only found on chain), or by the periodic task or a
    # command (no user).
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When Lifeboat sent the queue transaction")
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True, help_text="When Lifeboat sent the execute transaction")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["document", "venue"], name="one_publication_per_venue"),
            models.UniqueConstraint(
                fields=["venue", "proposal_id"],
                condition=models.Q(proposal_id__isnull=False),
                name="one_publication_per_proposal_id",
            ),
        ]

    def __str__(self) -> str:
        return f"publication {self.pk} of document {self.document_id} on venue {self.venue_id}"


class PlanApproval(models.Model):
    """A ``PlanApproved`` event of the RecoveryExecutor: the chain's word that a plan asset may be paid."""

    plan_asset = models.ForeignKey(PlanAsset, on_delete=models.PROTECT, related_name="approvals")
    publication = models.ForeignKey(
        Publication, null=True, blank=True, on_delete=models.PROTECT, related_name="approvals"
    )
    snapshot_proposal = models.ForeignKey(
        "governance.SnapshotProposal", null=True, blank=True, on_delete=models.PROTECT, related_name="approvals"
    )
    chain_id = models.PositiveBigIntegerField()
    recovery_executor = models.CharField(max_length=42)
    onchain_plan_id = Uint256Field()
    batches_root = models.CharField(max_length=66)
    token = models.CharField(max_length=42)
    mode = models.PositiveSmallIntegerField()
    batch_count = models.PositiveIntegerField()
    budget = Uint256Field()
    incident_key = models.CharField(max_length=66, default="", help_text="0x-hex: the incident the plan belongs to")
    version = models.PositiveBigIntegerField(default=0, help_text="The plan's version for its incident")
    delivery = models.PositiveSmallIntegerField(
        default=0, help_text="0 push, 1 push with the claimable fallback, 2 pull"
    )
    claim_deadline = models.PositiveBigIntegerField(default=0, help_text="Pull: last unix timestamp of a claim; 0")
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "recovery_executor", "onchain_plan_id"], name="one_approval_per_onchain_plan"
            )
        ]

    def __str__(self) -> str:
        return f"plan {self.onchain_plan_id} approved at block {self.block_number}"
