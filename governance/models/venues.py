"""Venues: where a proposal is put to the token holders. Amounts use ``Uint256Field``."""

from django.conf import settings
from django.db import models

from recovery.fields import Uint256Field


class GovernorVenue(models.Model):
    """An OpenZeppelin Governor on one chain, with the RecoveryExecutor its passed proposals approve plans on.

    The probed facts are what the governor answered at ``probed_block`` (``probed_block_hash``);
    ``venue probe`` reads them again. Quorum is a function of the timepoint, so it is stored
    with the timepoint it was read at.
    """

    kind = "governor"

    chain_id = models.PositiveBigIntegerField()
    governor = models.CharField(max_length=42, help_text="EIP-55 address of the Governor")
    recovery_executor = models.CharField(max_length=42, help_text="EIP-55 address of the RecoveryExecutor")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100)
    interface_id = models.CharField(max_length=10, help_text="The IGovernor ERC-165 id the governor answered")
    clock_mode = models.CharField(max_length=200, help_text="ERC-6372 CLOCK_MODE (block numbers when absent)")
    voting_delay = Uint256Field(help_text="In clock units (blocks or seconds)")
    voting_period = Uint256Field(help_text="In clock units (blocks or seconds)")
    quorum = Uint256Field(help_text="Votes needed, at quorum_timepoint")
    quorum_timepoint = models.PositiveBigIntegerField()
    proposal_threshold = Uint256Field()
    counting_mode = models.CharField(max_length=200)
    token = models.CharField(max_length=42, help_text="The voting token (token())")
    timelock = models.CharField(max_length=42, blank=True, help_text="Empty: the governor executes itself")
    sequential_ids = models.BooleanField(help_text="GovernorSequentialProposalId: ids 1, 2, 3 (latestProposalId)")
    stores_proposals = models.BooleanField(help_text="GovernorStorage: proposalCount and proposalDetails")
    late_quorum_extension = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="GovernorPreventLateQuorum: how far a late quorum moves the deadline"
    )
    approver_role = models.CharField(
        max_length=66, help_text="APPROVER_ROLE on the RecoveryExecutor, held by the executor"
    )
    probed_at = models.DateTimeField()
    probed_block = models.PositiveBigIntegerField()
    probed_block_hash = models.CharField(max_length=66)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "governor"], name="governance_one_venue_per_governor"),
        ]

    def __str__(self) -> str:
        return f"governor {self.name} ({self.governor}) on chain {self.chain_id}"

    @property
    def executor(self) -> str:
        """The account that runs passed proposals: the timelock, or the governor itself."""
        return self.timelock or self.governor
