"""Committee sign-off of proposal documents: linking members, taking and re-checking signatures.

A sign-off is per (document, venue): the venue gives the typed data's chain id and its
RecoveryExecutor (``proposals/signoff.py``). A signature is verified on receipt — ECDSA
recovery to the member's address, or, when code sits at that address, the wallet's EIP-1271
``isValidSignature`` read on the chain — and stored with what was signed; refused, nothing is
stored. ``verify_signoffs`` checks every stored one again, the way anyone can.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from web3 import Web3

from chain.errors import RpcUnavailable
from chain.redaction import redact
from chain.wallets import ask_wallet, has_code, read_block
from governance.models import GovernorVenue
from governance.selectors import get_governor_venue
from governance.venues import connect_chain
from proposals import signoff
from proposals.exceptions import (
    CommitteeMemberConflict,
    NotACommitteeMember,
    SignatureMalformed,
    SignatureMismatch,
    SignOffExists,
    VenueChainMismatch,
)
from proposals.models import CommitteeMember, ProposalDocument, SignOff, SignOffKind
from proposals.selectors import get_proposal
from recovery import roles
from recovery.exceptions import ChainUnavailable, InvalidInput, RoleRequired
from recovery.validation import parse_address

# --- Reads ---


@dataclass(frozen=True, slots=True)
class SignOffSubject:
    """What the committee signs for one document on one venue: the typed data and its digest."""

    document: ProposalDocument
    venue: GovernorVenue
    typed_data: dict[str, Any]
    digest: str


def get_document_and_venue(*, proposal_id: int, venue_id: int) -> tuple[ProposalDocument, GovernorVenue]:
    """The document and the venue; 404 for either unknown, 409 for a venue on another chain than the incident."""
    document = get_proposal(proposal_id=proposal_id)
    venue = get_governor_venue(venue_id)
    if venue.chain_id != document.incident.chain_id:
        raise VenueChainMismatch(
            f"venue {venue.pk} governs chain {venue.chain_id}, but proposal {document.pk}'s incident is on chain "
            f"{document.incident.chain_id}: use a venue on the incident's chain",
            venue_chain_id=venue.chain_id,
            incident_chain_id=document.incident.chain_id,
        )
    return document, venue


def get_signoff_subject(*, proposal_id: int, venue_id: int) -> SignOffSubject:
    """The typed data of ``proposal_id`` on ``venue_id``; errors as ``get_document_and_venue``."""
    document, venue = get_document_and_venue(proposal_id=proposal_id, venue_id=venue_id)
    typed_data = _typed_data(document, chain_id=venue.chain_id, recovery_executor=venue.recovery_executor)
    return SignOffSubject(
        document=document, venue=venue, typed_data=typed_data, digest=signoff.signoff_digest(typed_data)
    )


def _typed_data(document: ProposalDocument, *, chain_id: int, recovery_executor: str) -> dict[str, Any]:
    return signoff.signoff_typed_data(
        chain_id=chain_id,
        recovery_executor=recovery_executor,
        incident_id=document.incident_id,
        version=document.version,
        content_hash=document.content_hash,
    )


def list_signoffs(*, proposal_id: int, venue_id: int) -> QuerySet[SignOff]:
    return SignOff.objects.filter(document_id=proposal_id, venue_id=venue_id).select_related("member__user")


def counted_signoffs(subject: SignOffSubject) -> QuerySet[SignOff]:
    """The sign-offs that count: over the venue's current digest, by active members still in the committee role."""
    return list_signoffs(proposal_id=subject.document.pk, venue_id=subject.venue.pk).filter(
        digest=subject.digest, member__active=True, member__user__groups__name=roles.COMMITTEE
    )


def list_committee_members() -> QuerySet[CommitteeMember]:
    return CommitteeMember.objects.select_related("user").order_by("pk")


def member_of_user(user: AbstractBaseUser) -> CommitteeMember:
    """The active member linked to ``user``; ``NotACommitteeMember`` (403) says how to link one."""
    member = CommitteeMember.objects.select_related("user").filter(user_id=user.pk, active=True).first()
    if member is None:
        name = user.get_username()
        raise NotACommitteeMember(
            f"{name} has no committee address to sign with: an administrator links one with "
            f"`manage.py proposal committee add --user {name} --address 0x...`",
            user=name,
        )
    return member


def member_at(address: str) -> CommitteeMember:
    """The active member signing with ``address`` (EIP-55); ``NotACommitteeMember`` (403) otherwise."""
    checked = parse_address(address, field="signer")
    member = CommitteeMember.objects.select_related("user").filter(address=checked, active=True).first()
    if member is None:
        raise NotACommitteeMember(
            f"{checked} is not an active committee member's address (`manage.py proposal committee list` shows them)",
            signer=checked,
        )
    return member


# --- Committee membership ---


def link_committee_member(*, username: str, address: str) -> tuple[CommitteeMember, bool]:
    """Link ``username`` (in the committee role) to ``address``; ``(member, created)``.

    Idempotent for the same pair. An address belongs to one user for good; a user has one active
    address at a time (409 ``committee_member_conflict``, naming how to replace it).
    """
    checked = parse_address(address, field="address")
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        raise InvalidInput(f"there is no user {username!r}", field="user")
    if not user.groups.filter(name=roles.COMMITTEE).exists():
        raise RoleRequired(
            f"{username} is not in the committee role: `manage.py role add {username} committee` first",
            role=roles.COMMITTEE,
        )
    with transaction.atomic():
        existing = CommitteeMember.objects.select_for_update().filter(address=checked).first()
        if existing is not None and existing.user_id != user.pk:
            raise CommitteeMemberConflict(
                f"{checked} is already linked to {existing.user.get_username()}; an address signs for one member only",
                address=checked,
            )
        active = CommitteeMember.objects.filter(user=user, active=True).exclude(address=checked).first()
        if active is not None:
            raise CommitteeMemberConflict(
                f"{username} already signs with {active.address}; remove it first with "
                f"`manage.py proposal committee remove --address {active.address}`",
                address=active.address,
            )
        if existing is not None:
            if existing.active:
                return existing, False
            existing.active = True
            existing.save(update_fields=["active"])
            return existing, True
        return CommitteeMember.objects.create(user=user, address=checked), True


def deactivate_committee_member(*, address: str) -> CommitteeMember:
    """Stop ``address`` counting: its sign-offs stay on record, no longer towards any threshold."""
    checked = parse_address(address, field="address")
    updated = CommitteeMember.objects.filter(address=checked).update(active=False)
    if not updated:
        raise InvalidInput(f"{checked} is not a committee member's address", field="address")
    return CommitteeMember.objects.select_related("user").get(address=checked)


# --- Checking a signature ---


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Whether ``signature`` is ``address``'s over a digest; ``reason`` says why not, for people."""

    valid: bool
    kind: str  # SignOffKind value; "" when neither check applied
    reason: str
    malformed: bool = False
    block_number: int | None = None
    block_hash: str = ""


def check_signature(
    *, typed_data: dict[str, Any], address: str, signature: bytes, wallet_chain: Callable[[], Web3]
) -> SignatureCheck:
    """Check ``signature`` as ``address``'s over ``typed_data``.

    ECDSA first (no chain needed); otherwise, when ``address`` holds code, the wallet is asked
    (EIP-1271) through ``wallet_chain()``, which connects to the venue's chain.
    """
    digest = signoff.signoff_digest(typed_data)
    recovered = signoff.recover_signer(typed_data, signature)
    if recovered.signer == address:
        return SignatureCheck(valid=True, kind=SignOffKind.ECDSA, reason="")
    as_ecdsa = (
        f"as an ECDSA signature it recovers to {recovered.signer}"
        if recovered.signer
        else f"it is no ECDSA signature ({recovered.problem})"
    )
    w3 = wallet_chain()
    block = read_block(w3, confirmations=settings.CONFIRMATION_DEPTH)
    if not has_code(w3, address, block=block[0]):
        if recovered.signer is None:
            return SignatureCheck(valid=False, kind="", reason=recovered.problem, malformed=True)
        return SignatureCheck(
            valid=False,
            kind="",
            reason=(
                f"the signature recovers to {recovered.signer}, not {address}: it was made by another key, or over "
                f"another digest (another document, chain or RecoveryExecutor); the digest to sign is {digest}"
            ),
        )
    answer = ask_wallet(w3, address, digest=bytes.fromhex(digest[2:]), signature=signature, block=block)
    if answer.valid:
        return SignatureCheck(
            valid=True, kind=SignOffKind.EIP1271, reason="", block_number=block[0], block_hash=block[1]
        )
    return SignatureCheck(
        valid=False,
        kind="",
        reason=(
            f"the contract wallet at {address} does not accept the signature for digest {digest} at block {block[0]} "
            f"(isValidSignature answered {answer.answer}, not 0x1626ba7e); {as_ecdsa}"
        ),
        block_number=block[0],
        block_hash=block[1],
    )


def _wallet_chain(*, rpc_url: str, chain_id: int) -> Callable[[], Web3]:
    """A connection to the node at ``rpc_url``, checked to serve ``chain_id``, made only when called."""
    return lambda: connect_chain(rpc_url=rpc_url, chain_id=chain_id)


def _chain_errors_as_unavailable(rpc_url: str, call: Callable[[], SignatureCheck]) -> SignatureCheck:
    try:
        return call()
    except RpcUnavailable as error:
        raise ChainUnavailable(redact(f"cannot ask the wallet: {error}", secrets=[rpc_url])) from None


# --- Taking a sign-off ---


def submit_signoff(
    *,
    proposal_id: int,
    venue_id: int,
    member: CommitteeMember,
    signature: str,
    rpc_url: str,
    submitted_by: AbstractBaseUser | None = None,
) -> SignOff:
    """Verify ``member``'s ``signature`` over the document's sign-off digest for the venue, and store it.

    Refused, nothing is stored: unknown proposal or venue (404), a venue on another chain (409),
    a malformed signature (400 ``signature_malformed``), a document whose rehearsal on the venue
    did not pass (409 ``rehearsal_required``), an inactive member or one no longer in the
    committee role (403), a second sign-off by the member (409 ``signoff_exists``), a signature
    that is not the member's over this digest (400 ``signature_mismatch``, naming what it
    recovers to). A node failure while asking a contract wallet is 503.
    """
    from proposals.readiness import require_rehearsed

    subject = get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
    try:
        raw = signoff.parse_signature(signature)
    except signoff.SignatureFormatError as error:
        raise SignatureMalformed(str(error), field="signature") from None
    require_rehearsed(proposal_id=proposal_id, venue_id=venue_id)
    _require_active(member)
    if SignOff.objects.filter(document=subject.document, venue=subject.venue, member=member).exists():
        raise _already_signed(subject, member)
    chain = _wallet_chain(rpc_url=rpc_url, chain_id=subject.venue.chain_id)
    check = _chain_errors_as_unavailable(
        rpc_url,
        lambda: check_signature(
            typed_data=subject.typed_data, address=member.address, signature=raw, wallet_chain=chain
        ),
    )
    if not check.valid:
        error = SignatureMalformed if check.malformed else SignatureMismatch
        raise error(check.reason, field="signature", signer=member.address, digest=subject.digest)
    stored = signoff.normalized_ecdsa(raw) if check.kind == SignOffKind.ECDSA else raw
    try:
        with transaction.atomic():
            return SignOff.objects.create(
                document=subject.document,
                venue=subject.venue,
                member=member,
                signer=member.address,
                signature=signoff.signature_hex(stored),
                digest=subject.digest,
                chain_id=subject.venue.chain_id,
                recovery_executor=subject.venue.recovery_executor,
                kind=check.kind,
                verified_block=check.block_number,
                verified_block_hash=check.block_hash,
                submitted_by=submitted_by,
            )
    except IntegrityError:
        # A concurrent submission by the same member won the unique constraint.
        raise _already_signed(subject, member) from None


def _require_active(member: CommitteeMember) -> None:
    member.refresh_from_db(fields=["active"])
    if not member.active:
        raise NotACommitteeMember(f"{member.address} is no longer an active committee member", signer=member.address)
    if not member.user.groups.filter(name=roles.COMMITTEE).exists():
        name = member.user.get_username()
        raise NotACommitteeMember(
            f"{member.address} belongs to {name}, who is no longer in the committee role", signer=member.address
        )


def _already_signed(subject: SignOffSubject, member: CommitteeMember) -> SignOffExists:
    return SignOffExists(
        f"{member.address} has already signed off proposal {subject.document.pk} for venue {subject.venue.pk}",
        signer=member.address,
    )


# --- Re-checking every stored sign-off ---


@dataclass(frozen=True, slots=True)
class SignOffVerification:
    signoff: SignOff
    digest_matches: bool  # the stored digest is the one rebuilt from the document and the stored domain
    current: bool  # signed over the venue's current domain (chain id, RecoveryExecutor)
    valid: bool
    reason: str
    block_number: int | None
    block_hash: str


def verify_signoffs(*, proposal_id: int, venue_id: int, rpc_url: str) -> list[SignOffVerification]:
    """Check every stored sign-off of the document for the venue again, from its bytes alone.

    The typed data is rebuilt from the document and the domain stored with the sign-off; its
    digest must equal the stored one, and the signature must be the signer's over it (ECDSA, or
    the wallet's EIP-1271 answer now). Nothing is written.
    """
    subject = get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
    chain = _wallet_chain(rpc_url=rpc_url, chain_id=subject.venue.chain_id)
    results = []
    for row in list_signoffs(proposal_id=proposal_id, venue_id=venue_id):
        typed_data = _typed_data(subject.document, chain_id=row.chain_id, recovery_executor=row.recovery_executor)
        digest_matches = signoff.signoff_digest(typed_data) == row.digest
        check = _chain_errors_as_unavailable(
            rpc_url,
            lambda typed_data=typed_data, row=row: check_signature(
                typed_data=typed_data,
                address=row.signer,
                signature=signoff.parse_signature(row.signature),
                wallet_chain=chain,
            ),
        )
        valid = digest_matches and check.valid
        reason = check.reason if digest_matches else f"the stored digest {row.digest} is not the document's"
        results.append(
            SignOffVerification(
                signoff=row,
                digest_matches=digest_matches,
                current=row.digest == subject.digest,
                valid=valid,
                reason=reason,
                block_number=check.block_number,
                block_hash=check.block_hash,
            )
        )
    return results
