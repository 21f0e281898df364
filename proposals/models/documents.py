"""Proposal documents: frozen, canonical versions of recovery plans (see ``proposals/document.py``)."""

from django.conf import settings
from django.db import models

from recovery.models import Incident, RecoveryPlan


class ProposalStatus(models.TextChoices):
    # Later issues add signed (committee sign-off reached) and published (put to a venue).
    FROZEN = "frozen", "Frozen"


class ProposalDocument(models.Model):
    """One frozen version of a recovery plan: its canonical JSON, content hash and voters' body.

    ``version`` is the plan's version: numbered per incident, and one document per plan (a
    changed plan is a new plan version, hence a new document). ``canonical_json`` holds the
    exact RFC 8785 bytes that ``content_hash`` (0x + keccak256) covers; they never change once
    written. ``body`` is the Markdown rendering of the document, not hashed.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="proposal_documents")
    plan = models.OneToOneField(RecoveryPlan, on_delete=models.PROTECT, related_name="proposal_document")
    version = models.PositiveIntegerField(help_text="The plan's version, per incident")
    schema = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.FROZEN)
    canonical_json = models.BinaryField(help_text="RFC 8785 canonical JSON: the bytes the content hash covers")
    content_hash = models.CharField(max_length=66, unique=True, help_text="0x + keccak256 of canonical_json")
    body = models.TextField(help_text="Markdown for voters, ending with the content-hash line")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "version"], name="one_proposal_document_per_version")
        ]

    def __str__(self) -> str:
        return f"proposal document {self.pk} (incident {self.incident_id} v{self.version})"

    @property
    def canonical_bytes(self) -> bytes:
        return bytes(self.canonical_json)  # PostgreSQL hands back a memoryview
