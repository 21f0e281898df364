"""Rehearsals: a proposal's calls and batches run on a fork, every balance checked (``chain/rehearsal.py``)."""

from django.conf import settings
from django.db import models

from governance.models import GovernorVenue
from proposals.models.documents import ProposalDocument

__all__ = ["Rehearsal", "RehearsalStatus"]


class RehearsalStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # requested, waiting for a worker
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"  # the plan would not pay exactly: the report says why
    ERROR = "error", "Error"  # the rehearsal could not run (node, fork): it says nothing about the plan


class Rehearsal(models.Model):
    """One run of a proposal document on a fork of its venue's chain; the latest finished one counts.

    ``report`` is the JSON of ``chain.rehearsal.rehearse_on_fork`` plus the wall time;
    ``report_hash`` is keccak256 of its RFC 8785 bytes, as the document's body quotes it. The
    fork block (number and hash) and chain id say which chain state the result holds for.
    """

    proposal = models.ForeignKey(ProposalDocument, on_delete=models.CASCADE, related_name="rehearsals")
    venue = models.ForeignKey(GovernorVenue, on_delete=models.PROTECT, related_name="rehearsals")
    status = models.CharField(max_length=16, choices=RehearsalStatus.choices, default=RehearsalStatus.PENDING)
    content_hash = models.CharField(max_length=66, help_text="The document's content hash the rehearsal ran")
    chain_id = models.PositiveBigIntegerField(null=True, blank=True)
    fork_block = models.PositiveBigIntegerField(null=True, blank=True)
    fork_block_hash = models.CharField(max_length=66, blank=True)
    report = models.JSONField(null=True, blank=True)
    report_hash = models.CharField(max_length=66, blank=True)
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Why the rehearsal could not run (redacted)")
    total_gas = models.PositiveBigIntegerField(null=True, blank=True)
    seconds = models.FloatField(default=0, help_text="Wall time; timing only, never an amount")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"rehearsal {self.pk} of proposal document {self.proposal_id}: {self.status}"

    @property
    def passed(self) -> bool:
        return self.status == RehearsalStatus.PASSED
