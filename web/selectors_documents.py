"""Reads for the committee's document pages: a frozen document's workflow, one step per venue.

The document page walks a frozen proposal document through rehearsal, sign-off and publishing.
Everything here reads (through the proposals and governance apps' own selectors); the writes
are the same services the API calls, in ``web/views_documents.py``.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser

from governance.models import GovernorVenue, Publication, SnapshotProposal, SnapshotVenue
from governance.selectors import find_publication
from governance.snapshot_selectors import find_snapshot_proposal
from proposals import readiness, rehearsals, signoffs
from proposals.models import CommitteeMember, ProposalDocument, Rehearsal, SignOff
from recovery.exceptions import ChainUnavailable

GOVERNOR, SNAPSHOT = "governor", "snapshot"


@dataclass(frozen=True, slots=True)
class SignOffRow:
    signoff: SignOff
    counts: bool  # over the venue's current digest, by an active member still in the committee
    valid: bool | None  # the signature checked again now; None when the node could not be asked
    reason: str


@dataclass(frozen=True, slots=True)
class GovernorStep:
    """One governor venue's part of the workflow: rehearsal, sign-off, publication."""

    venue: GovernorVenue
    latest: Rehearsal | None  # the latest rehearsal requested here, whatever its state
    verdict: Rehearsal | None  # the latest one that passed or failed: the one that counts
    typed_data: dict[str, Any]
    typed_data_json: str
    digest: str
    signoffs: list[SignOffRow]
    count: int
    threshold: int
    met: bool
    signed_by_me: bool
    publication: Publication | None

    @property
    def rehearsed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    @property
    def publish_value(self) -> str:
        return f"{GOVERNOR}:{self.venue.pk}"


@dataclass(frozen=True, slots=True)
class SnapshotStep:
    venue: SnapshotVenue
    proposal: SnapshotProposal | None

    @property
    def publish_value(self) -> str:
        return f"{SNAPSHOT}:{self.venue.pk}"


@dataclass(frozen=True, slots=True)
class DocumentWorkflow:
    document: ProposalDocument
    content: dict[str, Any]
    governors: list[GovernorStep]
    spaces: list[SnapshotStep]
    member: CommitteeMember | None
    rehearsals: list[Rehearsal]

    @property
    def any_rehearsed(self) -> bool:
        return any(step.rehearsed for step in self.governors)

    @property
    def any_met(self) -> bool:
        return any(step.met for step in self.governors)

    @property
    def published(self) -> bool:
        return any(step.publication is not None for step in self.governors) or any(
            step.proposal is not None for step in self.spaces
        )


def find_document(*, document_id: int) -> ProposalDocument | None:
    """The document with its plan and incident, or None."""
    return ProposalDocument.objects.select_related("plan", "incident", "created_by").filter(pk=document_id).first()


def find_rehearsal(*, rehearsal_id: int) -> Rehearsal | None:
    """The rehearsal with its document, venue and requester, or None."""
    return (
        Rehearsal.objects.select_related("proposal__incident", "venue", "requested_by").filter(pk=rehearsal_id).first()
    )


def member_of(user: AbstractBaseUser) -> CommitteeMember | None:
    """The active committee address linked to ``user``, or None (the page says how to link one)."""
    return CommitteeMember.objects.filter(user_id=user.pk, active=True).first()


def governor_venues_for(document: ProposalDocument) -> list[GovernorVenue]:
    """The governor venues on the document's chain (a venue on another chain can neither rehearse nor sign)."""
    return list(GovernorVenue.objects.filter(chain_id=document.incident.chain_id).order_by("pk"))


def snapshot_venues_for(document: ProposalDocument) -> list[SnapshotVenue]:
    return list(SnapshotVenue.objects.filter(chain_id=document.incident.chain_id).order_by("pk"))


def find_governor_venue(*, document: ProposalDocument, venue_id: int) -> GovernorVenue | None:
    return GovernorVenue.objects.filter(pk=venue_id, chain_id=document.incident.chain_id).first()


def find_snapshot_venue(*, document: ProposalDocument, venue_id: int) -> SnapshotVenue | None:
    return SnapshotVenue.objects.filter(pk=venue_id, chain_id=document.incident.chain_id).first()


def document_workflow(*, document: ProposalDocument, user: AbstractBaseUser) -> DocumentWorkflow:
    """What the document page shows: per governor venue the rehearsal, sign-offs and publication, per space
    its publication, the signed-in member's address and every rehearsal of the document."""
    member = member_of(user)
    governors = [_governor_step(document, venue, member) for venue in governor_venues_for(document)]
    spaces = [
        SnapshotStep(venue=venue, proposal=find_snapshot_proposal(proposal_id=document.pk, venue_id=venue.pk))
        for venue in snapshot_venues_for(document)
    ]
    return DocumentWorkflow(
        document=document,
        content=json.loads(document.canonical_bytes),
        governors=governors,
        spaces=spaces,
        member=member,
        rehearsals=list(
            rehearsals.list_rehearsals(proposal_id=document.pk).select_related("venue", "requested_by")[:20]
        ),
    )


def _governor_step(document: ProposalDocument, venue: GovernorVenue, member: CommitteeMember | None) -> GovernorStep:
    subject = signoffs.get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk)
    status = readiness.signoff_status(proposal_id=document.pk, venue_id=venue.pk)
    counted = set(signoffs.counted_signoffs(subject).values_list("pk", flat=True))
    checks = _checked_signatures(document, venue)
    rows = [
        SignOffRow(
            signoff=row,
            counts=row.pk in counted,
            valid=checks[row.pk][0] if row.pk in checks else None,
            reason=checks[row.pk][1] if row.pk in checks else "the node could not be asked to check it now",
        )
        for row in signoffs.list_signoffs(proposal_id=document.pk, venue_id=venue.pk)
    ]
    latest = Rehearsal.objects.filter(proposal=document, venue=venue).order_by("-created_at", "-pk").first()
    return GovernorStep(
        venue=venue,
        latest=latest,
        verdict=rehearsals.latest_verdict(proposal_id=document.pk, venue_id=venue.pk),
        typed_data=subject.typed_data,
        typed_data_json=json.dumps(subject.typed_data, indent=2),
        digest=subject.digest,
        signoffs=rows,
        count=status["count"],
        threshold=status["threshold"],
        met=status["met"],
        signed_by_me=member is not None and any(row.signoff.member_id == member.pk for row in rows),
        publication=find_publication(proposal_id=document.pk, venue_id=venue.pk),
    )


def _checked_signatures(document: ProposalDocument, venue: GovernorVenue) -> dict[int, tuple[bool, str]]:
    """Each stored sign-off's signature checked again (ECDSA here; a contract wallet asked on the chain)."""
    try:
        results = signoffs.verify_signoffs(proposal_id=document.pk, venue_id=venue.pk, rpc_url=settings.CHAIN_RPC_URL)
    except ChainUnavailable:
        return {}
    return {result.signoff.pk: (result.valid, result.reason) for result in results}
