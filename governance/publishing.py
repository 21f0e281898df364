"""Publishing a frozen proposal document to a governor venue: ``propose``, exactly once.

The order is fixed (issue 11, item 5): the readiness gate (rehearsal passed, committee
sign-off reached), the calls from the document, the description, the proposer's votes against
the threshold, the proposal id computed here, then the send.

Exactly once: the ``propose`` transaction is signed at a fixed nonce and stored, with its
hash, in the same database transaction that creates the ``Publication`` (status ``sending``),
*before* it is broadcast. Whatever fails after that (the process, the node, the connection
between sending and reading the receipt), publishing again never signs a second ``propose``:
it looks for the stored transaction's receipt, then for the proposal on chain (its id on a
hashing governor; a ``ProposalCreated`` log by the proposer with the same description hash on
a sequential one), and only then re-sends the very same bytes.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from web3 import Web3
from web3.contract import Contract

from chain import proposing as onchain
from chain.errors import Reverted, RpcUnavailable
from chain.transact import account_nonce, receipt_of
from governance.exceptions import (
    NothingToPropose,
    ProposalIdMismatch,
    ProposerBelowThreshold,
    ProposeRefused,
    PublicationInFlight,
)
from governance.models import GovernorVenue, Publication, PublicationStatus
from governance.selectors import find_publication, get_governor_venue
from governance.venues import connect_venue, role_account
from proposals.calls import proposal_calls
from proposals.models import ProposalDocument
from proposals.selectors import get_proposal
from recovery.exceptions import ChainUnavailable

if TYPE_CHECKING:
    pass

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def publish_proposal(
    *,
    proposal_id: int,
    venue_id: int,
    rpc_url: str,
    published_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> Publication:
    """Propose document ``proposal_id`` on venue ``venue_id`` through the node at ``rpc_url``; idempotent.

    A document already published to the venue answers its publication (finishing it first if
    its ``propose`` was stored but not yet seen mined). Otherwise the readiness gate runs first
    (409 when the rehearsal did not pass or the sign-off threshold is not met), and nothing is
    stored or sent when any check refuses: ``ChainMismatch`` (409), ``NothingToPropose`` (409),
    ``ProposerBelowThreshold`` (409), ``ProposeRefused`` (409, the governor's revert),
    ``SigningKeyMissing`` (503), ``ChainUnavailable`` (503).
    """
    existing = find_publication(proposal_id=proposal_id, venue_id=venue_id)
    if existing is None or existing.status == PublicationStatus.FAILED:
        _require_publishable(proposal_id=proposal_id, venue_id=venue_id)
    return _propose(
        proposal_id=proposal_id, venue_id=venue_id, rpc_url=rpc_url, published_by=published_by, progress=progress
    )


def _require_publishable(*, proposal_id: int, venue_id: int) -> None:
    # Rehearsal passed on this venue and the committee's sign-off threshold met, else 409.
    from proposals.readiness import require_publishable

    require_publishable(proposal_id=proposal_id, venue_id=venue_id)


def proposal_description(document: ProposalDocument) -> str:
    """The ``propose`` description: title, body, ``content-hash: 0x…`` and the document's id and version.

    The id and version line makes two versions' descriptions (hence their ``hashProposal``
    ids) differ even when their calls are equal.
    """
    body = document.body.strip("\n")
    lines = []
    if not body.startswith("# "):  # Tally and others take the first heading as the title
        title = json.loads(document.canonical_bytes)["incident"]["title"]
        lines += [f"# Recovery proposal: {title} (plan version {document.version})", ""]
    lines.append(body)
    if f"content-hash: {document.content_hash}" not in body.splitlines():
        lines += ["", f"content-hash: {document.content_hash}"]
    lines.append(f"lifeboat-document: {document.pk} version {document.version}")
    return "\n".join(lines) + "\n"


def governor_calls(actions: list[dict]) -> list[onchain.GovernorCall]:
    """The stored ``actions`` as the governor takes them."""
    return [
        onchain.GovernorCall(target=a["target"], value=int(a["value"]), calldata=bytes.fromhex(a["calldata"][2:]))
        for a in actions
    ]


def _propose(
    *,
    proposal_id: int,
    venue_id: int,
    rpc_url: str,
    published_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> Publication:
    """Everything of ``publish_proposal`` after the readiness gate (see the module docstring)."""
    say = progress or _quiet
    document = get_proposal(proposal_id=proposal_id)
    venue = get_governor_venue(venue_id)
    w3 = connect_venue(venue, rpc_url)
    governor = onchain.governor_contract(w3, venue.governor)
    try:
        existing = find_publication(proposal_id=proposal_id, venue_id=venue_id)
        if existing is not None and existing.status != PublicationStatus.FAILED:
            say(f"document {document.pk} is already published to venue {venue.pk} (publication {existing.pk})")
            return _finish(w3, governor, existing, say)
        publication = _sign_and_store(w3, governor, document, venue, published_by, say)
        return _finish(w3, governor, publication, say)
    except RpcUnavailable as error:
        raise ChainUnavailable(
            f"{error}; whatever was signed is stored, and publishing again finishes it without a second propose"
        ) from None


def _sign_and_store(
    w3: Web3,
    governor: Contract,
    document: ProposalDocument,
    venue: GovernorVenue,
    published_by: AbstractBaseUser | None,
    say: Progress,
) -> Publication:
    calls = proposal_calls(json.loads(document.canonical_bytes), recovery_executor=venue.recovery_executor)
    if not calls:
        raise NothingToPropose(
            f"document {document.pk} has no parameter change and no asset with batches to approve: "
            "a governor refuses an empty proposal",
            proposal=document.pk,
        )
    actions = [call.as_json() for call in calls]
    description = proposal_description(document)
    gcalls = governor_calls(actions)
    account = role_account("proposer")
    votes, threshold, timepoint = onchain.proposer_votes(w3, governor, account.address)
    say(f"proposer {account.address} has {votes} votes at timepoint {timepoint}; the threshold is {threshold}")
    if votes < threshold:
        raise ProposerBelowThreshold(
            f"the proposer {account.address} has {votes} votes at timepoint {timepoint}, below the governor's "
            f"proposalThreshold of {threshold}: delegate at least {threshold - votes} more votes to it (or configure "
            "another proposer with PROPOSER_PRIVATE_KEY), then publish again",
            proposer=account.address,
            votes=str(votes),
            threshold=str(threshold),
        )
    expected_id = None if venue.sequential_ids else onchain.hash_proposal(gcalls, description)
    if expected_id is not None and onchain.proposal_exists(w3, governor, expected_id):
        raise ProposeRefused(
            f"the governor already has proposal {expected_id} with exactly these calls and description, "
            "proposed outside this publication",
            proposal_id=str(expected_id),
        )
    with transaction.atomic():
        # One signer per venue at a time: the venue row lock serialises nonce choice and the
        # one-publication-per-venue check.
        GovernorVenue.objects.select_for_update().filter(pk=venue.pk).first()
        again = Publication.objects.select_for_update().filter(document=document, venue=venue).first()
        if again is not None and again.status != PublicationStatus.FAILED:
            return again
        in_flight = Publication.objects.filter(
            proposer=account.address, status=PublicationStatus.SENDING, venue__chain_id=venue.chain_id
        ).aggregate(top=Max("nonce"))["top"]
        nonce = max(account_nonce(w3, account.address), -1 if in_flight is None else in_flight + 1)
        sent_block, _, _ = onchain.head(w3)
        try:
            signed = onchain.sign_propose(w3, account, governor, gcalls, description, nonce=nonce)
        except Reverted as error:
            raise ProposeRefused(f"the governor {venue.governor} refuses propose: {error}", venue=venue.pk) from None
        publication = again or Publication(document=document, venue=venue)
        publication.status = PublicationStatus.SENDING
        publication.proposal_id = expected_id
        publication.description = description
        publication.description_hash = "0x" + onchain.description_hash(description).hex()
        publication.actions = actions
        publication.proposer = account.address
        publication.tx_hash = signed.tx_hash
        publication.signed_tx = signed.raw
        publication.nonce = signed.nonce
        publication.sent_block = sent_block
        publication.created_block = None
        publication.created_block_hash = ""
        publication.error = ""
        publication.published_by = published_by
        publication.save()
    say(
        f"signed propose {signed.tx_hash} (nonce {nonce}) for {len(actions)} calls; stored as publication "
        f"{publication.pk}"
    )
    return publication


def _finish(w3: Web3, governor: Contract, publication: Publication, say: Progress) -> Publication:
    """Bring a ``sending`` publication to ``created`` (or ``failed``) without ever signing again."""
    if publication.status != PublicationStatus.SENDING:
        return publication
    receipt = receipt_of(w3, publication.tx_hash)
    if receipt is None:
        created = _created_elsewhere(w3, governor, publication)
        if created is not None:
            say(f"proposal {created.proposal_id} is already on chain (block {created.block_number})")
            return _record(w3, governor, publication, created)
        if account_nonce(w3, publication.proposer, pending=False) > publication.nonce:
            receipt = receipt_of(w3, publication.tx_hash)  # mined between the two reads?
            if receipt is None:
                _fail(
                    publication,
                    f"the proposer's nonce {publication.nonce} was used by another transaction and the proposal is "
                    "not on chain; publishing again signs a new propose",
                )
                raise ProposeRefused(publication.error, publication=publication.pk, tx_hash=publication.tx_hash)
        else:
            say(f"sending {publication.tx_hash} to the governor {governor.address}")
            onchain.broadcast(w3, bytes(publication.signed_tx))
            say("waiting for the receipt")
            receipt = receipt_of(w3, publication.tx_hash, timeout=120, poll=0.05)
            if receipt is None:
                raise PublicationInFlight(
                    f"propose {publication.tx_hash} is sent but not mined yet; publish again later to finish "
                    f"publication {publication.pk} (the same transaction, never a second one)",
                    publication=publication.pk,
                    tx_hash=publication.tx_hash,
                )
    if receipt["status"] != 1:
        _fail(publication, f"propose {publication.tx_hash} reverted in block {receipt['blockNumber']}")
        raise ProposeRefused(publication.error, publication=publication.pk, tx_hash=publication.tx_hash)
    found = onchain.created_in_receipt(governor, receipt)
    if len(found) != 1:
        raise ProposalIdMismatch(
            f"the receipt of {publication.tx_hash} holds {len(found)} ProposalCreated logs of {governor.address}, "
            "not one",
            publication=publication.pk,
        )
    return _record(w3, governor, publication, found[0])


def _created_elsewhere(w3: Web3, governor: Contract, publication: Publication) -> onchain.CreatedProposal | None:
    """The proposal on chain although the stored transaction has no receipt (e.g. replaced, or a reorg)."""
    if publication.proposal_id is not None and not onchain.proposal_exists(w3, governor, int(publication.proposal_id)):
        return None
    return onchain.find_created(
        w3,
        governor,
        from_block=publication.sent_block or 0,
        description_hash_hex=publication.description_hash,
        proposer=publication.proposer,
    )


def _record(w3: Web3, governor: Contract, publication: Publication, created: onchain.CreatedProposal) -> Publication:
    calls = governor_calls(publication.actions)
    if publication.proposal_id is not None and int(publication.proposal_id) != created.proposal_id:
        raise ProposalIdMismatch(
            f"ProposalCreated in {created.tx_hash} names proposal {created.proposal_id}, but hashProposal of the "
            f"calls and description is {publication.proposal_id}",
            publication=publication.pk,
        )
    if created.description_hash != publication.description_hash or created.calldatas != tuple(
        c.calldata for c in calls
    ):
        raise ProposalIdMismatch(
            f"proposal {created.proposal_id} on chain does not carry the stored calls and description",
            publication=publication.pk,
        )
    own = onchain.governor_proposal_id(w3, governor, calls, publication.description)
    if own is not None and own != created.proposal_id:
        raise ProposalIdMismatch(
            f"the governor's getProposalId answers {own}, but ProposalCreated names {created.proposal_id}",
            publication=publication.pk,
        )
    publication.status = PublicationStatus.CREATED
    publication.proposal_id = created.proposal_id
    publication.tx_hash = created.tx_hash
    publication.created_block = created.block_number
    publication.created_block_hash = created.block_hash
    publication.vote_start = created.vote_start
    publication.vote_end = created.vote_end
    publication.error = ""
    publication.save()
    return publication


def _fail(publication: Publication, reason: str) -> Publication:
    publication.status = PublicationStatus.FAILED
    publication.error = reason
    publication.save(update_fields=["status", "error", "updated_at"])
    return publication
