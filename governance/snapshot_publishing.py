"""Publishing a frozen proposal document to a Snapshot space: one signed ``Proposal`` message, exactly once.

The gate comes first: the document must be publishable on a *governor* venue of the same chain
and RecoveryExecutor (a passed rehearsal and the committee's sign-off threshold there, both of
which are stored per governor venue). That is enough for a Snapshot venue too: the rehearsal
runs the plan's ``approvePlan`` calls, and the payments rehearsed are the same whichever venue
approves them; what a vote approves is the commitment, not the venue.

Exactly once: the message is signed and the ``SnapshotProposal`` stored (status ``sending``,
with the envelope and its id, the EIP-712 digest) in one database transaction *before* it is
posted. Whatever fails after that (the process, the hub, the answer lost on the way back),
publishing again posts the very same envelope: the sequencer either takes it, or refuses it
as a "duplicate message", which means it is already there once the hub's ``proposal(id)``
answers it. Any other refusal marks the row ``failed`` with the sequencer's reason; publishing
again then signs a new message.
"""

import json
import time
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from eth_utils import to_checksum_address
from web3.exceptions import Web3RPCError

from chain.redaction import redact_url
from config.errors import LifeboatError
from governance.exceptions import NothingToPropose
from governance.models import GovernorVenue, SnapshotProposal, SnapshotProposalStatus, SnapshotVenue
from governance.models.snapshot import ApproverKind
from governance.publishing import proposal_description
from governance.snapshot_client import graphql, post_message
from governance.snapshot_errors import (
    SnapshotAuthorNotAllowed,
    SnapshotMessageTooLarge,
    SnapshotNotPublishable,
    SnapshotRefused,
    SnapshotUnavailable,
)
from governance.snapshot_messages import PROPOSAL_TYPES, message_data, message_id, proposal_message, sign
from governance.snapshot_selectors import find_snapshot_proposal, get_snapshot_venue
from governance.venues import connect_chain, role_account
from proposals.calls import proposal_calls
from proposals.exceptions import VenueChainMismatch
from proposals.models import ProposalDocument
from proposals.selectors import get_proposal
from recovery.exceptions import ChainUnavailable

Progress = Callable[[str], None]

# The sequencer refuses, as "too large message", a posted body whose JSON text is longer than this many
# UTF-16 units (snapshot-sequencer, src/ingestor.ts).
MAX_MESSAGE_CHARS = 100_000
# A space that imposes no voting period lets the author choose; Lifeboat then asks for three days.
DEFAULT_VOTING_PERIOD_SECONDS = 3 * 24 * 3600
TITLE_MAX_CHARS = 256  # snapshot.js's proposal schema: name maxLength
DUPLICATE = "duplicate message"
_SIG_PLACEHOLDER = "0x" + "00" * 65

PROPOSAL_QUERY = """
query Proposal($id: String!) {
  proposal(id: $id) { id ipfs state author space { id } }
}
"""


def _quiet(_: str) -> None:
    return None


def publish_to_snapshot(
    *,
    proposal_id: int,
    venue_id: int,
    rpc_url: str,
    published_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> SnapshotProposal:
    """Publish document ``proposal_id`` to Snapshot venue ``venue_id``; idempotent.

    A document already published to the space answers its row, after posting its stored
    envelope again when it is still ``sending``. Otherwise, refusals before anything is signed
    or stored: ``VenueChainMismatch`` (409) for a space on another chain than the incident,
    ``ExecutorMismatch`` (409) for a plan bound to another RecoveryExecutor,
    ``SnapshotNotPublishable`` (409) with no governor venue of the same chain and executor, or
    for parameter changes with a key approver, ``RehearsalRequired`` / ``SignOffThresholdNotMet``
    (409) from that governor venue, ``NothingToPropose`` (409), ``SnapshotAuthorNotAllowed``
    (409), ``SnapshotMessageTooLarge`` (409), ``SigningKeyMissing`` (503), ``ChainMismatch``
    (409) / ``ChainUnavailable`` (503) for the node at ``rpc_url``. After storing:
    ``SnapshotRefused`` (409, the sequencer's reason; the row is then ``failed``) and
    ``SnapshotUnavailable`` (503; the row stays ``sending`` and publishing again finishes it).
    """
    say = progress or _quiet
    document = get_proposal(proposal_id=proposal_id)
    venue = get_snapshot_venue(venue_id)
    existing = find_snapshot_proposal(proposal_id=proposal_id, venue_id=venue_id)
    if existing is not None and existing.status != SnapshotProposalStatus.FAILED:
        say(f"document {document.pk} is already published to space {venue.space} (snapshot proposal {existing.pk})")
        return _finish(existing, say)
    require_snapshot_publishable(document, venue)
    row = _sign_and_store(document, venue, rpc_url=rpc_url, published_by=published_by, say=say)
    return _finish(row, say)


def require_snapshot_publishable(document: ProposalDocument, venue: SnapshotVenue) -> None:
    """Refuse (409) a document this space may not be asked about; see ``publish_to_snapshot`` for which."""
    from proposals.readiness import require_publishable

    if venue.chain_id != document.incident.chain_id:
        raise VenueChainMismatch(
            f"Snapshot venue {venue.pk} (space {venue.space}) reads votes on chain {venue.chain_id}, but proposal "
            f"{document.pk}'s incident is on chain {document.incident.chain_id}: use a space on the incident's chain",
            venue_chain_id=venue.chain_id,
            incident_chain_id=document.incident.chain_id,
        )
    content = json.loads(document.canonical_bytes)
    calls = proposal_calls(content, recovery_executor=venue.recovery_executor)  # ExecutorMismatch first
    governors = [
        g
        for g in GovernorVenue.objects.filter(chain_id=venue.chain_id).order_by("pk")
        if g.recovery_executor.lower() == venue.recovery_executor.lower()
    ]
    if not governors:
        raise SnapshotNotPublishable(
            f"proposal {document.pk} must be rehearsed and signed off on a governor venue of chain {venue.chain_id} "
            f"approving on the RecoveryExecutor {venue.recovery_executor}, and there is none: add one with "
            "`manage.py venue add governor`, rehearse and sign off there, then publish to the space",
            chain_id=venue.chain_id,
            recovery_executor=venue.recovery_executor,
        )
    refusal = None
    for governor in governors:
        try:
            require_publishable(proposal_id=document.pk, venue_id=governor.pk)
        except LifeboatError as error:
            refusal = refusal or error
        else:
            refusal = None
            break
    if refusal is not None:
        raise refusal
    if not calls:
        raise NothingToPropose(
            f"document {document.pk} has no parameter change and no asset with batches to approve: there is "
            "nothing for a passed vote to carry out",
            proposal=document.pk,
        )
    changes = [c for c in calls if c.plan_asset is None]
    if changes and venue.approver_kind == ApproverKind.KEY:
        raise SnapshotNotPublishable(
            f"proposal {document.pk} makes {len(changes)} parameter change(s), which only the protocol's governance "
            f"can carry out, but space {venue.space}'s approver is a key ({venue.approver}) that can only call "
            "approvePlan: use a Snapshot venue whose approver is a Safe (--approver-kind safe), or the governor venue",
            proposal=document.pk,
            parameter_changes=len(changes),
        )
    if venue.voting_type not in ("", "basic"):
        raise SnapshotNotPublishable(
            f"space {venue.space} only takes proposals of voting type {venue.voting_type!r}; Lifeboat publishes "
            "type 'basic' (For, Against, Abstain): set the space's voting type to basic or to any",
            voting_type=venue.voting_type,
        )


def proposal_title(document: ProposalDocument) -> str:
    """``Recovery proposal: {incident title} (plan version N)``, cut to Snapshot's 256 characters."""
    title = json.loads(document.canonical_bytes)["incident"]["title"]
    suffix = f" (plan version {document.version})"
    head = f"Recovery proposal: {title}"
    if len(head) + len(suffix) > TITLE_MAX_CHARS:
        head = head[: TITLE_MAX_CHARS - len(suffix) - 1] + "…"
    return head + suffix


def message_chars(envelope: dict[str, Any]) -> int:
    """``JSON.stringify(envelope).length``: UTF-16 code units of the compact JSON, as the sequencer counts."""
    text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le")) // 2


def _sign_and_store(
    document: ProposalDocument,
    venue: SnapshotVenue,
    *,
    rpc_url: str,
    published_by: AbstractBaseUser | None,
    say: Progress,
) -> SnapshotProposal:
    account = role_account("proposer")
    author = to_checksum_address(account.address)
    if venue.only_members and author not in {to_checksum_address(a) for a in venue.authors}:
        raise SnapshotAuthorNotAllowed(
            f"space {venue.space} takes proposals from its admins, moderators and members only, and the proposer "
            f"{author} is none of them: add {author} to the space's members (or configure a proposer key that is "
            "one with PROPOSER_PRIVATE_KEY), then add the venue again to read the space anew",
            author=author,
            space=venue.space,
        )
    w3 = connect_chain(rpc_url=rpc_url, chain_id=venue.chain_id, subject=f"the Snapshot space {venue.space}")
    try:
        # Voting power is read at a block past the confirmation depth, so a reorg cannot change it.
        head = w3.eth.get_block(max(int(w3.eth.block_number) - settings.CONFIRMATION_DEPTH, 0))
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        raise ChainUnavailable(
            f"the node at {redact_url(rpc_url)} did not answer for the head block: {error}"
        ) from None
    timestamp = int(time.time())
    start = timestamp + int(venue.voting_delay)
    end = start + int(venue.voting_period or DEFAULT_VOTING_PERIOD_SECONDS)
    message = proposal_message(
        author=author,
        space=venue.space,
        timestamp=timestamp,
        title=proposal_title(document),
        body=proposal_description(document),
        start=start,
        end=end,
        snapshot=int(head["number"]),
    )
    data = message_data(PROPOSAL_TYPES, message)
    size = message_chars({"address": author, "sig": _SIG_PLACEHOLDER, "data": data})
    if size > MAX_MESSAGE_CHARS:
        raise SnapshotMessageTooLarge(
            f"the proposal message for document {document.pk} would be {size} characters as JSON, over the Snapshot "
            f"sequencer's limit of {MAX_MESSAGE_CHARS} (its body is {len(message['body'])} characters): shorten the "
            "document's Markdown body (link to the full plan instead of inlining it) and freeze a new version",
            chars=size,
            limit=MAX_MESSAGE_CHARS,
        )
    with transaction.atomic():
        SnapshotVenue.objects.select_for_update().filter(pk=venue.pk).first()
        again = SnapshotProposal.objects.select_for_update().filter(document=document, venue=venue).first()
        if again is not None and again.status != SnapshotProposalStatus.FAILED:
            return again
        envelope = sign(account, data)
        row = again or SnapshotProposal(document=document, venue=venue)
        row.status = SnapshotProposalStatus.SENDING
        row.proposal_id = message_id(data)
        row.envelope = envelope
        row.author = author
        row.timestamp = timestamp
        row.start = start
        row.end = end
        row.snapshot = int(head["number"])
        row.snapshot_block_hash = head["hash"].to_0x_hex()
        row.ipfs = ""
        row.error = ""
        row.state = ""
        row.scores = []
        row.scores_total = ""
        row.scores_state = ""
        row.hub_quorum = ""
        row.votes_count = 0
        row.for_votes = row.against_votes = row.abstain_votes = 0
        row.vote_cursor = 0
        row.outcome = ""
        row.outcome_reason = ""
        row.followed_at = None
        row.published_by = published_by
        row.save()
        row.votes.all().delete()
    say(
        f"signed proposal {row.proposal_id} by {author} for space {venue.space} (snapshot block {row.snapshot}, "
        f"voting {start}..{end}); stored as snapshot proposal {row.pk}"
    )
    return row


def _finish(row: SnapshotProposal, say: Progress) -> SnapshotProposal:
    """Bring a ``sending`` row to ``created`` (or ``failed``) by posting its stored envelope, never a new one."""
    if row.status != SnapshotProposalStatus.SENDING:
        return row
    venue = row.venue
    say(f"posting proposal {row.proposal_id} to the sequencer at {redact_url(venue.sequencer_url)}")
    try:
        answer = post_message(venue.sequencer_url, row.envelope)
    except SnapshotUnavailable as error:
        raise SnapshotUnavailable(
            f"{error.message}; snapshot proposal {row.pk} is stored as sending, and publishing again posts the very "
            "same message",
            snapshot_proposal=row.pk,
            **error.detail,
        ) from None
    except SnapshotRefused as refused:
        reason = refused.detail.get("error_description", "")
        if reason == DUPLICATE:
            found = _hub_proposal(venue, row.proposal_id)
            if found is not None:
                say(f"the hub already holds proposal {row.proposal_id}")
                return _created(row, str(found.get("ipfs") or ""))
        _fail(row, f"the sequencer refused the proposal: {reason}")
        raise SnapshotRefused(
            f"{refused.message}; snapshot proposal {row.pk} is marked failed, and publishing again signs a new message",
            snapshot_proposal=row.pk,
            **refused.detail,
        ) from None
    answered = str(answer.get("id") or "")
    if answered and answered.lower() != row.proposal_id.lower():
        _fail(row, f"the sequencer answered id {answered} for the message whose digest is {row.proposal_id}")
        raise SnapshotRefused(row.error, snapshot_proposal=row.pk, error="", error_description=row.error)
    say(f"the hub took proposal {row.proposal_id} (ipfs {answer.get('ipfs') or 'none'})")
    return _created(row, str(answer.get("ipfs") or ""))


def _hub_proposal(venue: SnapshotVenue, proposal_id: str) -> dict[str, Any] | None:
    return graphql(venue.hub_url, PROPOSAL_QUERY, {"id": proposal_id}).get("proposal")


def _created(row: SnapshotProposal, ipfs: str) -> SnapshotProposal:
    row.status = SnapshotProposalStatus.CREATED
    row.ipfs = ipfs[:100]
    row.error = ""
    row.save(update_fields=["status", "ipfs", "error", "updated_at"])
    return row


def _fail(row: SnapshotProposal, reason: str) -> SnapshotProposal:
    row.status = SnapshotProposalStatus.FAILED
    row.error = reason
    row.save(update_fields=["status", "error", "updated_at"])
    return row
