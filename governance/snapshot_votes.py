"""Votes on a Snapshot proposal submitted through Lifeboat: the message to sign, and checking and forwarding it.

A holder signs Snapshot's own single-choice ``Vote`` (``governance.snapshot_messages``) with any
wallet; Lifeboat checks the envelope before the sequencer sees it, so a holder learns at once
why a vote would not count: its shape and types, the space and proposal, the signature (ECDSA,
or EIP-1271 for a contract wallet, read from the chain), the voting window, and voting power
(``getPastVotes`` at the proposal's snapshot block) above zero. Then it is posted to the
venue's sequencer; a refusal there is answered with the sequencer's reason word for word.
"""

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from eth_utils import is_hex, is_hex_address, to_checksum_address
from web3 import Web3

from chain.artifacts import bind
from chain.errors import Reverted, RpcUnavailable
from chain.proposing import node_errors
from chain.transact import reverts_as_chain_errors
from governance import snapshot_client
from governance.models.snapshot import SnapshotProposal, SnapshotProposalStatus, SnapshotVote, SnapshotVoteSubmission
from governance.snapshot_errors import (
    SnapshotProposalNotFound,
    SnapshotVoteInvalid,
    SnapshotVoteRateLimited,
    SnapshotVoteRefused,
)
from governance.snapshot_messages import (
    ABSTAIN,
    AGAINST,
    DOMAIN,
    FOR,
    VOTE_TYPES,
    digest,
    message_data,
    message_id,
    recover,
    vote_message,
)
from governance.venues import connect_chain
from recovery.exceptions import ChainUnavailable

__all__ = ["CHOICES", "submit_vote", "vote_typed_data"]

CHOICES: dict[str, int] = {"for": FOR, "against": AGAINST, "abstain": ABSTAIN}
RATE_WINDOW = timedelta(hours=1)  # SNAPSHOT_VOTES_PER_VOTER_PER_HOUR counts over this
# EIP-1271: isValidSignature(bytes32,bytes) answers this selector for a valid signature.
_EIP1271_MAGIC = bytes.fromhex("1626ba7e")
_EIP1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]
_MESSAGE_KINDS: dict[str, type] = {
    "from": str,
    "space": str,
    "timestamp": int,
    "proposal": str,
    "choice": int,
    "reason": str,
    "app": str,
    "metadata": str,
}


def vote_typed_data(
    *, snapshot_proposal_id: int, voter: str, choice: int | str, reason: str = "", timestamp: int | None = None
) -> dict[str, Any]:
    """The ``{domain, types, message}`` a holder signs to vote ``choice`` (1/2/3 or for/against/abstain).

    ``timestamp`` defaults to now (unix seconds). ``SnapshotProposalNotFound`` (404);
    ``SnapshotVoteInvalid`` (400, naming the field) for a voter that is not an address or an
    unknown choice; ``SnapshotVoteRefused`` (409) for a proposal not (yet) on the hub.
    """
    proposal = _proposal_on_hub(snapshot_proposal_id)
    if not isinstance(voter, str) or not is_hex_address(voter):
        raise SnapshotVoteInvalid(f"voter {voter!r} is not a 0x address of 20 bytes", field="voter")
    message = vote_message(
        voter=voter,
        space=proposal.venue.space,
        proposal=proposal.proposal_id,
        choice=_choice(choice),
        timestamp=int(time.time()) if timestamp is None else int(timestamp),
        reason=reason,
    )
    return message_data(VOTE_TYPES, message)


def submit_vote(*, snapshot_proposal_id: int, envelope: Mapping[str, Any], rpc_url: str) -> dict[str, Any]:
    """Check the signed vote ``envelope`` ``{address, sig, data}``, post it to the sequencer, store it.

    Answers ``{id, ipfs, voter, choice, vp}`` (``vp`` the exact voting power in base units, as a
    string); the voter's ``SnapshotVote`` is stored (or replaced) with ``via_lifeboat``.
    Refusals, nothing posted or stored: ``SnapshotVoteInvalid`` (400, ``detail['field']``) for
    the shape, a domain or types other than Snapshot's ``Vote``, another space or proposal, or a
    signature that is not the voter's; ``SnapshotVoteRefused`` (409) before the start or after the
    end (both times given) and for no voting power at the snapshot block. From the sequencer:
    ``SnapshotRefused`` (409, its reason word for word), ``SnapshotUnavailable`` (503).
    ``ChainUnavailable`` (503) when the node does not answer.
    """
    proposal = _proposal_on_hub(snapshot_proposal_id)
    venue = proposal.venue
    address, sig, data = _shape(envelope)
    message = data["message"]
    if message["space"] != venue.space:
        raise SnapshotVoteInvalid(
            f"the vote is for space {message['space']!r}, but proposal {proposal.pk} is in space {venue.space!r}",
            field="data.message.space",
        )
    if message["proposal"].lower() != proposal.proposal_id.lower():
        raise SnapshotVoteInvalid(
            f"the vote is for proposal {message['proposal']}, not {proposal.proposal_id} (Lifeboat's Snapshot "
            f"proposal {proposal.pk}): sign the message vote_typed_data gives for this proposal",
            field="data.message.proposal",
        )
    if message["choice"] not in (FOR, AGAINST, ABSTAIN):
        raise SnapshotVoteInvalid(
            f"choice {message['choice']} is not 1 (For), 2 (Against) or 3 (Abstain)", field="data.message.choice"
        )
    voter = to_checksum_address(message["from"])
    if address.lower() != voter.lower():
        raise SnapshotVoteInvalid(
            f"the envelope's address {address} is not the message's from {voter}", field="address"
        )
    w3 = connect_chain(rpc_url=rpc_url, chain_id=venue.chain_id, subject=f"snapshot venue {venue.pk}")
    try:
        _require_signature(w3, data, sig, voter)
        _require_window(proposal)
        vp = _voting_power(w3, proposal, voter)
    except RpcUnavailable as error:
        raise ChainUnavailable(str(error)) from None
    if vp <= 0:
        raise SnapshotVoteRefused(
            f"{voter} has no voting power at block {proposal.snapshot} (getPastVotes of {venue.token} is 0): "
            "votes count from the block after tokens are delegated, so delegate before a proposal's snapshot",
            voter=voter,
            snapshot=proposal.snapshot,
        )
    _count_submission(proposal, voter=voter, vote_id=message_id(data))
    answer = snapshot_client.post_message(venue.sequencer_url, dict(envelope))
    vote_id = str(answer.get("id") or message_id(data))
    ipfs = str(answer.get("ipfs") or "")
    SnapshotVote.objects.update_or_create(
        proposal=proposal,
        voter=voter,
        defaults={
            "vote_id": vote_id,
            "choice": message["choice"],
            "reason": message["reason"],
            "app": message["app"],
            "created": message["timestamp"],
            "sig": sig,
            "ipfs": ipfs,
            "vp": vp,
            "via_lifeboat": True,
        },
    )
    return {"id": vote_id, "ipfs": ipfs, "voter": voter, "choice": message["choice"], "vp": str(vp)}


def _count_submission(proposal: SnapshotProposal, *, voter: str, vote_id: str) -> None:
    """Record one forwarded vote of ``voter``, or ``SnapshotVoteRateLimited`` (429) past the hourly limit.

    Counted only once the signature is the voter's: nobody else can spend a voter's allowance.
    """
    limit = settings.SNAPSHOT_VOTES_PER_VOTER_PER_HOUR
    now = timezone.now()
    with transaction.atomic():
        recent = list(
            SnapshotVoteSubmission.objects.select_for_update()
            .filter(voter=voter, submitted_at__gte=now - RATE_WINDOW)
            .order_by("submitted_at")
            .values_list("submitted_at", flat=True)
        )
        if len(recent) >= limit:
            oldest_counted = recent[len(recent) - limit] if limit > 0 else now
            retry_after = max(1, math.ceil((oldest_counted + RATE_WINDOW - now).total_seconds()))
            raise SnapshotVoteRateLimited(
                f"{voter} has had {len(recent)} votes forwarded in the last hour, the most allowed "
                f"(SNAPSHOT_VOTES_PER_VOTER_PER_HOUR={limit}); submit this one again in {retry_after} seconds, "
                "or post it to the sequencer directly",
                voter=voter,
                limit=limit,
                retry_after=retry_after,
            )
        SnapshotVoteSubmission.objects.create(proposal=proposal, voter=voter, vote_id=vote_id)


def _choice(choice: int | str) -> int:
    if isinstance(choice, str) and choice.strip().lower() in CHOICES:
        return CHOICES[choice.strip().lower()]
    if isinstance(choice, str) and choice.strip().isdigit():
        choice = int(choice.strip())
    if isinstance(choice, int) and not isinstance(choice, bool) and choice in (FOR, AGAINST, ABSTAIN):
        return choice
    raise SnapshotVoteInvalid(
        f"choice {choice!r} is none of 1 (for), 2 (against), 3 (abstain), 'for', 'against', 'abstain'",
        field="choice",
    )


def _proposal_on_hub(snapshot_proposal_id: int) -> SnapshotProposal:
    proposal = SnapshotProposal.objects.select_related("venue").filter(pk=snapshot_proposal_id).first()
    if proposal is None:
        raise SnapshotProposalNotFound(
            f"there is no Snapshot proposal {snapshot_proposal_id}", snapshot_proposal=snapshot_proposal_id
        )
    if proposal.status != SnapshotProposalStatus.CREATED or not proposal.proposal_id:
        raise SnapshotVoteRefused(
            f"Snapshot proposal {proposal.pk} is {proposal.status}, not on the hub: publish it first",
            snapshot_proposal=proposal.pk,
            status=proposal.status,
        )
    return proposal


def _shape(envelope: Any) -> tuple[str, str, dict[str, Any]]:
    """(address, sig, data) of a well-formed envelope; ``SnapshotVoteInvalid`` naming the first bad field."""
    if not isinstance(envelope, Mapping):
        raise SnapshotVoteInvalid("the vote must be a JSON object {address, sig, data}", field="envelope")
    address, sig, data = envelope.get("address"), envelope.get("sig"), envelope.get("data")
    if not isinstance(address, str) or not is_hex_address(address):
        raise SnapshotVoteInvalid("address must be the voter's 0x address (20 bytes)", field="address")
    if not isinstance(sig, str) or not sig.startswith("0x") or not is_hex(sig) or len(sig) < 4:
        raise SnapshotVoteInvalid("sig must be the signature as 0x-hex", field="sig")
    if not isinstance(data, Mapping):
        raise SnapshotVoteInvalid("data must be the signed {domain, types, message}", field="data")
    extra = sorted(set(data) - {"domain", "types", "message"})
    if extra:
        raise SnapshotVoteInvalid(f"data has fields Snapshot's Vote has not: {', '.join(extra)}", field="data")
    if data.get("domain") != DOMAIN:
        raise SnapshotVoteInvalid(
            f"data.domain is {data.get('domain')!r}, not Snapshot's {DOMAIN!r} (no chainId)", field="data.domain"
        )
    if data.get("types") != VOTE_TYPES:
        raise SnapshotVoteInvalid(
            "data.types are not Snapshot's single-choice Vote types (from, space, timestamp, proposal, choice "
            "uint32, reason, app, metadata): sign the message vote_typed_data gives",
            field="data.types",
        )
    message = data.get("message")
    if not isinstance(message, Mapping):
        raise SnapshotVoteInvalid("data.message must be the Vote message", field="data.message")
    if set(message) != set(_MESSAGE_KINDS):
        missing = sorted(set(_MESSAGE_KINDS) - set(message))
        extra = sorted(set(message) - set(_MESSAGE_KINDS))
        raise SnapshotVoteInvalid(
            f"data.message lacks {', '.join(missing) or 'nothing'} and has unknown {', '.join(extra) or 'nothing'}",
            field="data.message",
        )
    for name, kind in _MESSAGE_KINDS.items():
        value = message[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SnapshotVoteInvalid(
                f"data.message.{name} must be {'an integer' if kind is int else 'a string'}, not {value!r}",
                field=f"data.message.{name}",
            )
    if not is_hex_address(message["from"]):
        raise SnapshotVoteInvalid("data.message.from must be a 0x address", field="data.message.from")
    if not 0 <= message["timestamp"] < 2**64 or not 0 <= message["choice"] < 2**32:
        raise SnapshotVoteInvalid("data.message.timestamp or choice is out of range", field="data.message")
    return address, sig, {"domain": dict(DOMAIN), "types": VOTE_TYPES, "message": dict(message)}


def _require_signature(w3: Web3, data: Mapping[str, Any], sig: str, voter: str) -> None:
    """The voter's ECDSA signature over ``data``, or (a contract voter) its EIP-1271 ``isValidSignature``."""
    try:
        signer = recover(data, sig)
    except Exception:  # malformed signature bytes: eth-keys raises several kinds
        signer = ""
    if signer.lower() == voter.lower():
        return
    with node_errors(w3):
        code = w3.eth.get_code(voter)
    if code:
        contract = w3.eth.contract(address=voter, abi=_EIP1271_ABI)
        try:
            with node_errors(w3):
                answer = reverts_as_chain_errors(
                    contract.functions.isValidSignature(digest(data), bytes.fromhex(sig[2:])).call
                )
        except Reverted:
            answer = b""
        if bytes(answer) == _EIP1271_MAGIC:
            return
        raise SnapshotVoteInvalid(
            f"the signature is not valid for the contract voter {voter}: its isValidSignature (EIP-1271) does not "
            "answer 0x1626ba7e",
            field="sig",
        )
    raise SnapshotVoteInvalid(
        f"the signature is not {voter}'s over this Vote message"
        + (f" (it recovers to {signer})" if signer else " (it does not recover to any address)"),
        field="sig",
    )


def _require_window(proposal: SnapshotProposal) -> None:
    now = int(time.time())
    start, end = proposal.start, proposal.end
    shown = f"the vote runs from {_iso(start)} to {_iso(end)} (unix {start} to {end}; now {now})"
    if now < start:
        raise SnapshotVoteRefused(f"voting has not started: {shown}", start=start, end=end, now=now)
    if now >= end:
        raise SnapshotVoteRefused(f"voting has ended: {shown}", start=start, end=end, now=now)


def voting_power_at_snapshot(w3: Web3, proposal: SnapshotProposal, voter: str) -> int:
    """``getPastVotes(voter, snapshot)`` of the venue's token, or ``getVotes`` at the snapshot while it is the head.

    ``getPastVotes`` reverts for the current block (``ERC5805FutureLookup``), so a vote right after
    publishing reads the same number as a call at the snapshot block, as the hub's strategy does.
    Raises ``Reverted`` while the snapshot block is not mined yet.
    """
    token = bind(w3, "LifeboatToken", proposal.venue.token)
    snapshot = int(proposal.snapshot)
    with node_errors(w3):
        if snapshot < int(w3.eth.block_number):
            return int(reverts_as_chain_errors(token.functions.getPastVotes(voter, snapshot).call))
        at_snapshot = token.functions.getVotes(voter)
        return int(reverts_as_chain_errors(lambda: at_snapshot.call(block_identifier=snapshot)))


def _voting_power(w3: Web3, proposal: SnapshotProposal, voter: str) -> int:
    """The voter's power at the snapshot; 409 when the snapshot block is not mined yet."""
    try:
        return voting_power_at_snapshot(w3, proposal, voter)
    except Reverted as error:
        raise SnapshotVoteRefused(
            f"the voting power at the proposal's snapshot block {proposal.snapshot} cannot be read ({error}): the "
            "block is not mined yet",
            snapshot=int(proposal.snapshot),
        ) from None


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
