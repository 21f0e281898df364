"""Committee members' addresses and their EIP-712 sign-offs of proposal documents (``proposals/signoff.py``)."""

from django.conf import settings
from django.db import models

from proposals.models.documents import ProposalDocument

__all__ = ["CommitteeMember", "SignOff", "SignOffKind"]


class CommitteeMember(models.Model):
    """A Django user in the committee role, linked to the address it signs with.

    An address belongs to one member for good (unique, also once inactive, so an old sign-off
    always names who made it); a user has at most one active address. Deactivating a member
    keeps its sign-offs on record but they stop counting towards the threshold.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="committee_members")
    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 address the member signs with")
    active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(active=True), name="one_active_committee_address_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"committee member {self.address} ({'active' if self.active else 'inactive'})"


class SignOffKind(models.TextChoices):
    ECDSA = "ecdsa", "ECDSA (an externally owned account)"
    EIP1271 = "eip1271", "EIP-1271 (a contract wallet, such as a Safe)"


class SignOff(models.Model):
    """One member's signature over a document's EIP-712 sign-off digest for one venue.

    What was signed is stored with it (chain id, RecoveryExecutor, digest), so anyone can
    rebuild the typed data and check the signature again. A contract wallet's acceptance is
    read on the chain: ``verified_block`` and its hash say where.
    """

    document = models.ForeignKey(ProposalDocument, on_delete=models.PROTECT, related_name="signoffs")
    venue = models.ForeignKey("governance.GovernorVenue", on_delete=models.PROTECT, related_name="signoffs")
    member = models.ForeignKey(CommitteeMember, on_delete=models.PROTECT, related_name="signoffs")
    signer = models.CharField(max_length=42, help_text="EIP-55 address: the member's, as signed")
    signature = models.TextField(help_text="0x-hex; 65 bytes r, s, v (v 27 or 28) for ECDSA")
    digest = models.CharField(max_length=66, help_text="0x + the EIP-712 digest signed")
    chain_id = models.PositiveBigIntegerField(help_text="The typed data's domain chainId")
    recovery_executor = models.CharField(max_length=42, help_text="The typed data's domain verifyingContract")
    kind = models.CharField(max_length=8, choices=SignOffKind.choices)
    verified_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="EIP-1271: the block isValidSignature was read at"
    )
    verified_block_hash = models.CharField(max_length=66, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["document", "venue", "member"], name="one_signoff_per_member_and_venue")
        ]

    def __str__(self) -> str:
        return f"sign-off of document {self.document_id} on venue {self.venue_id} by {self.signer}"
