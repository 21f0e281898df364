"""Reads behind the holders' vote panel: whether a venue takes votes now, and one voter's standing there.

A venue here is one place a proposal document is put to a vote: a governor ``Publication`` or a
``SnapshotProposal``, created on chain or on the hub. Whether it is open comes from what the
followers stored (the governor's state; the Snapshot proposal's state and window); a voter's
standing reads the chain once, with a short timeout and no retry, so a slow node never holds the
page: their voting power at the proposal's snapshot and, for a governor, ``hasVoted``. Their
recorded vote comes from the indexed rows (``VoteRecord``, ``SnapshotVote``) and, for a gasless
ballot not indexed yet, its ``BallotRelay``. Amounts stay ``int`` in base units.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.urls import reverse
from web3 import Web3

from chain.artifacts import bind
from chain.ballots import read_ballot_state
from chain.errors import ChainError, Reverted
from chain.governor import TIMESTAMP_CLOCK_MODE
from chain.proposing import node_errors
from chain.rpc import connect, require_chain
from chain.transact import reverts_as_chain_errors
from governance import snapshot_votes
from governance.models import (
    BallotRelay,
    BallotRelayStatus,
    Publication,
    PublicationStatus,
    SnapshotProposal,
    SnapshotProposalStatus,
    SnapshotVote,
)
from governance.models.votes import VoteRecord
from web import selectors_holders

GOVERNOR, SNAPSHOT = "governor", "snapshot"
KINDS = (GOVERNOR, SNAPSHOT)
# A page's chain read gives up fast: the panel then says the voting power is unknown.
_PAGE_RPC_TIMEOUT = 3
# GovernorCountingSimple's support values, and Snapshot's basic choices.
_GOVERNOR_CHOICES = {1: "For", 0: "Against", 2: "Abstain"}
_SNAPSHOT_CHOICES = {1: "For", 2: "Against", 3: "Abstain"}

VenueRow = Publication | SnapshotProposal
# A token's decimals never change: (chain id, token) -> decimals, read once per process.
_DECIMALS: dict[tuple[int, str], int] = {}


@dataclass(frozen=True, slots=True)
class VotingWindow:
    """Whether a venue takes votes now and, when not, why in words; what the page's wallet code needs."""

    kind: str  # governor or snapshot
    pk: int  # the Publication's or SnapshotProposal's id
    key: str  # "governor-3": unique on a page, for element ids
    name: str  # the governor's name or the space
    proposal_id: str
    chain_id: int
    governor: str  # the governor's address (castVote's target); "" for Snapshot
    is_open: bool
    reason: str  # why voting is not open; "" when open
    closes: str  # when voting ends, in words; "" when unknown
    tally_url: str
    typed_data_url: str  # ballot / Snapshot Vote typed data
    submit_url: str  # POST the signed ballot / Snapshot envelope here


@dataclass(frozen=True, slots=True)
class RecordedVote:
    choice: str  # For, Against or Abstain
    weight: int | None  # base units; None when not known yet
    counted: bool  # in the stored tally the page shows
    block: int | None  # governor: the VoteCast's block
    tx_hash: str  # governor: the vote's transaction
    note: str  # how it got here / what happens next, in words


@dataclass(frozen=True, slots=True)
class VoterStanding:
    voter: str
    power: int | None  # votes at the proposal's snapshot, base units; None when unknown
    power_note: str  # why the power is unknown, or at which timepoint it was read
    vote: RecordedVote | None


def find_venue(*, document_id: int, kind: str, pk: int) -> VenueRow | None:
    """The created publication / Snapshot proposal ``pk`` of document ``document_id``, or None."""
    if kind == GOVERNOR:
        return (
            Publication.objects.select_related("venue")
            .filter(pk=pk, document_id=document_id, status=PublicationStatus.CREATED)
            .first()
        )
    if kind == SNAPSHOT:
        return (
            SnapshotProposal.objects.select_related("venue")
            .filter(pk=pk, document_id=document_id, status=SnapshotProposalStatus.CREATED)
            .first()
        )
    return None


def find_venue_by_proposal(*, document_id: int, kind: str, proposal_id: str) -> VenueRow | None:
    """The created venue row of document ``document_id`` whose on-chain / hub proposal id is ``proposal_id``."""
    if kind == GOVERNOR and proposal_id.isdigit():
        return (
            Publication.objects.select_related("venue")
            .filter(document_id=document_id, proposal_id=int(proposal_id), status=PublicationStatus.CREATED)
            .order_by("pk")
            .first()
        )
    if kind == SNAPSHOT and proposal_id:
        return (
            SnapshotProposal.objects.select_related("venue")
            .filter(document_id=document_id, proposal_id=proposal_id, status=SnapshotProposalStatus.CREATED)
            .order_by("pk")
            .first()
        )
    return None


def kind_of(row: VenueRow) -> str:
    return GOVERNOR if isinstance(row, Publication) else SNAPSHOT


def venue_status(row: VenueRow) -> selectors_holders.VenueStatus:
    """The venue's tally, quorum and time left as the proposal page shows them (the governor's quorum live)."""
    if isinstance(row, Publication):
        return selectors_holders.governor_venue_status(row, live=True)
    return selectors_holders.snapshot_venue_status(row)


def voting_window(row: VenueRow, *, now: int | None = None) -> VotingWindow:
    """Whether ``row`` takes votes now: a governor in state Active; a Snapshot proposal active within its window."""
    now = int(time.time()) if now is None else now
    kind = kind_of(row)
    document_id = row.document_id
    tally_url = reverse("vote-tally", args=[document_id, kind, row.pk])
    if isinstance(row, Publication):
        venue = row.venue
        is_open, reason = _governor_open(row)
        timestamp_clock = venue.clock_mode.startswith(TIMESTAMP_CLOCK_MODE)
        closes = ""
        if row.vote_end is not None:
            closes = f"at {_when(row.vote_end)}" if timestamp_clock else f"at block {row.vote_end:,}"
        return VotingWindow(
            kind=kind,
            pk=row.pk,
            key=f"{kind}-{row.pk}",
            name=venue.name,
            proposal_id=str(row.proposal_id),
            chain_id=int(venue.chain_id),
            governor=venue.governor,
            is_open=is_open,
            reason=reason,
            closes=closes,
            tally_url=tally_url,
            typed_data_url=reverse("publication-ballot-typed-data", args=[row.pk]),
            submit_url=reverse("publication-ballots", args=[row.pk]),
        )
    venue = row.venue
    if row.state == "closed" or now >= row.end:
        is_open, reason = False, f"Voting has closed: it ended at {_when(row.end)}."
    elif row.state == "pending" or now < row.start:
        is_open, reason = False, f"Voting has not started: it opens at {_when(row.start)}."
    else:
        is_open, reason = True, ""
    return VotingWindow(
        kind=kind,
        pk=row.pk,
        key=f"{kind}-{row.pk}",
        name=venue.space,
        proposal_id=row.proposal_id,
        chain_id=int(venue.chain_id),
        governor="",
        is_open=is_open,
        reason=reason,
        closes=f"at {_when(row.end)}",
        tally_url=tally_url,
        typed_data_url=reverse("snapshot-proposal-vote-typed-data", args=[row.pk]),
        submit_url=reverse("snapshot-proposal-votes", args=[row.pk]),
    )


def voter_standing(row: VenueRow, *, voter: str) -> VoterStanding:
    """``voter``'s (EIP-55) voting power at the proposal's snapshot and their recorded vote, if any.

    The power is read on chain (short timeout); when the node does not answer, or the snapshot is
    not in the past yet, it is None and ``power_note`` says why. The vote comes from the stored
    rows; a governor vote on chain that the follower has not indexed yet is named as such.
    """
    if isinstance(row, Publication):
        return _governor_standing(row, voter=voter)
    return _snapshot_standing(row, voter=voter)


def vote_decimals(row: VenueRow) -> int | None:
    """The voting token's decimals: the Snapshot venue's; a governor token's ``decimals()``, read once per process.

    None when the node does not answer (the page then shows base units only).
    """
    if isinstance(row, SnapshotProposal):
        return int(row.venue.token_decimals)
    venue = row.venue
    key = (int(venue.chain_id), venue.token)
    if key not in _DECIMALS:
        try:
            w3 = _connect(key[0])
            token = bind(w3, "LifeboatToken", venue.token)
            with node_errors(w3):
                _DECIMALS[key] = int(reverts_as_chain_errors(token.functions.decimals().call))
        except ChainError:
            return None
    return _DECIMALS[key]


# --- governor ---


def _governor_open(row: Publication) -> tuple[bool, str]:
    state = row.state
    if state == "active":
        return True, ""
    if not state:
        return False, "Voting is not open yet: the proposal has not been followed on chain yet."
    if state == "pending":
        start = row.vote_start
        clock = "time" if row.venue.clock_mode.startswith(TIMESTAMP_CLOCK_MODE) else "block"
        when = "" if start is None else (f" after {_when(start)}" if clock == "time" else f" after block {start:,}")
        return False, f"Voting has not started: it opens{when}."
    return False, f"Voting has closed: the proposal is {state}."


def _governor_standing(row: Publication, *, voter: str) -> VoterStanding:
    record = VoteRecord.objects.filter(publication=row, voter=voter).order_by("block_number", "log_index").first()
    vote: RecordedVote | None = None
    if record is not None:
        vote = RecordedVote(
            choice=_GOVERNOR_CHOICES.get(record.support, str(record.support)),
            weight=int(record.weight),
            counted=True,
            block=record.block_number,
            tx_hash=record.tx_hash,
            note="counted in the tally",
        )
    else:
        relay = (
            BallotRelay.objects.filter(publication=row, voter=voter)
            .exclude(status=BallotRelayStatus.FAILED)
            .order_by("-pk")
            .first()
        )
        if relay is not None:
            relayed = relay.status == BallotRelayStatus.RELAYED
            vote = RecordedVote(
                choice=_GOVERNOR_CHOICES.get(relay.support, str(relay.support)),
                weight=None if relay.weight is None else int(relay.weight),
                counted=False,
                block=relay.block_number,
                tx_hash=relay.tx_hash,
                note=(
                    "relayed gaslessly; counted here once the follower indexes it"
                    if relayed
                    else "gasless ballot sent, waiting for its receipt"
                ),
            )
    if row.vote_start is None:
        return VoterStanding(voter, None, "known once the proposal is followed", vote)
    try:
        w3 = _connect(int(row.venue.chain_id))
        reads = read_ballot_state(w3, governor=row.venue.governor, proposal_id=int(row.proposal_id), voter=voter)
    except ChainError:
        return VoterStanding(voter, None, "unknown: the node did not answer", vote)
    timestamp_clock = row.venue.clock_mode.startswith(TIMESTAMP_CLOCK_MODE)
    at = f"at {_when(reads.snapshot)}" if timestamp_clock else f"at block {reads.snapshot:,}"
    if reads.snapshot >= reads.clock:
        return VoterStanding(voter, None, f"known once voting opens (the snapshot is {at})", vote)
    if vote is None and reads.has_voted:
        vote = RecordedVote(
            choice="",
            weight=None,
            counted=False,
            block=None,
            tx_hash="",
            note="on chain; counted here once the follower indexes it",
        )
    return VoterStanding(voter, int(reads.weight), f"at the proposal's snapshot, {at}", vote)


# --- Snapshot ---


def _snapshot_standing(row: SnapshotProposal, *, voter: str) -> VoterStanding:
    stored = SnapshotVote.objects.filter(proposal=row, voter=voter).first()
    vote: RecordedVote | None = None
    if stored is not None:
        counted = row.followed_at is not None and row.followed_at >= stored.updated_at
        vote = RecordedVote(
            choice=_SNAPSHOT_CHOICES.get(stored.choice, str(stored.choice)),
            weight=None if stored.vp is None else int(stored.vp),
            counted=counted,
            block=None,
            tx_hash="",
            note="counted in the tally" if counted else "accepted by the hub; counted here at the next follow",
        )
    if not row.venue.token:
        return VoterStanding(voter, None, "unknown: the space names no token to read it from", vote)
    try:
        power = snapshot_votes.voting_power_at_snapshot(_connect(int(row.venue.chain_id)), row, voter)
    except Reverted:
        return VoterStanding(voter, None, f"known once block {row.snapshot:,} is mined (the snapshot)", vote)
    except ChainError:
        return VoterStanding(voter, None, "unknown: the node did not answer", vote)
    return VoterStanding(voter, power, f"at the proposal's snapshot, block {row.snapshot:,}", vote)


# --- helpers ---


def _connect(chain_id: int) -> Web3:
    w3 = connect(settings.CHAIN_RPC_URL, timeout=_PAGE_RPC_TIMEOUT)
    require_chain(w3, chain_id)  # WrongChain / RpcUnavailable are ChainErrors
    return w3


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
