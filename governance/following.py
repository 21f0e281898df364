"""Following a published proposal: its state, its votes and the plan approvals it produced.

The chain is the ledger; these rows mirror it, and only past the confirmation depth
(``settings.CONFIRMATION_DEPTH`` blocks below the head). One run of ``follow_publication``:

1. **Reorgs first.** The cursor (``followed_block`` + hash) is compared with the chain. A
   reorg at any depth changes the hash of every later block, so a matching cursor proves that
   everything stored below it still stands. When it does not match, the hashes of every block
   holding a stored row (and of the creation block) are compared, and everything at or above
   the first changed one is deleted in one transaction; the cursor goes back to the last block
   that still matches, and the run replays from there.
2. **Pin** the confirmed block ``head - depth`` by its hash, read the governor's and the
   RecoveryExecutor's logs from the cursor up to it (one raw ``eth_getLogs`` per page, decoded
   by slicing), then check the pinned hash and every new log's block hash again: a reorg
   during the scan aborts the run with nothing written.
3. **Read** ``state``, ``proposalSnapshot``, ``proposalDeadline`` (re-read every run: a late
   quorum moves it), ``proposalEta`` and ``proposalVotes`` at the pinned block hash.
4. **Check** that the stored tally plus the new votes equals ``proposalVotes``. A mismatch is
   stored on the publication, logged, and raised; the run's rows are not written.
5. **Write** the votes, approvals, state and cursor in one transaction, under a row lock,
   only if the cursor has not moved since step 1 (another run got there first otherwise).

Running it twice, or after a crash at any point, gives the same rows: the cursor and the rows
move together, and a vote row is unique per (publication, block, log index).

A proposal whose creation was reorganised away: when the ``propose`` transaction is mined
again (its receipt names a new block), the creation block is updated and following starts
over from there; when it is not, every followed row is rolled back, the state is cleared and
``ProposalReorgedOut`` is stored as the publication's error (publishing owns sending it again).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from eth_utils import to_checksum_address

from chain.blocks import block_hashes, head_block, node_chain_id
from chain.errors import ChainError
from chain.governor import TIMESTAMP_CLOCK_MODE
from chain.logs import RawRpc, scan_raw_logs
from chain.redaction import redact, redact_url
from chain.votes import (
    PLAN_APPROVED_TOPIC,
    VOTE_CAST_TOPIC,
    VOTE_CAST_WITH_PARAMS_TOPIC,
    ApprovalLog,
    ProposalReading,
    VoteLog,
    decode_approvals,
    decode_votes,
    read_proposal,
    read_quorum_and_clock,
    transaction_block,
)
from governance.exceptions import ProposalReorgedOut, PublicationNotFollowable, TallyMismatch
from governance.following_selectors import Tally, stored_tally, tally_of_records
from governance.models import PlanApproval, Publication, PublicationStatus
from governance.models.votes import VoteRecord
from governance.selectors import get_publication, publications_to_follow
from recovery.exceptions import ChainMismatch, ChainUnavailable
from recovery.models import PlanAsset

logger = logging.getLogger(__name__)

# Errors the indexer stores on a publication start with this, so a later good run clears only its own.
ERROR_PREFIX = "following: "

_FOLLOWED_FIELDS = [
    "state",
    "vote_start",
    "vote_end",
    "eta",
    "for_votes",
    "against_votes",
    "abstain_votes",
    "followed_block",
    "followed_block_hash",
    "error",
    "updated_at",
]


class _ChainMoved(ChainError):
    """The chain reorganised while this run read it: nothing is written; the next run replays."""


@dataclass(frozen=True, slots=True)
class _Scan:
    confirmed: int
    confirmed_hash: str
    votes: list[VoteLog]
    approvals: list[ApprovalLog]
    reading: ProposalReading | None


def follow_all(*, rpc_url: str) -> int:
    """Follow every publication whose proposal is not in a final state; how many were followed.

    A publication whose run fails with an error of its own (a tally mismatch, a reorged-out
    creation, another chain) is logged and stored on it, and the others are followed still; a
    node failure (``ChainUnavailable``) stops the sweep.
    """
    followed = 0
    for publication_id in publications_to_follow():
        try:
            follow_publication(publication_id=publication_id, rpc_url=rpc_url)
        except (TallyMismatch, ProposalReorgedOut, ChainMismatch, PublicationNotFollowable) as error:
            logger.warning("publication %s not followed: %s", publication_id, error.message)
            continue
        followed += 1
    return followed


def follow_publication(*, publication_id: int, rpc_url: str) -> Publication:
    """Bring the publication's votes, approvals, state and tally up to the confirmed head; see the module."""
    publication = get_publication(publication_id=publication_id)
    if publication.status != PublicationStatus.CREATED or publication.proposal_id is None:
        raise PublicationNotFollowable(
            f"publication {publication_id} is {publication.status!r} without a proposal on chain yet: only a "
            "created proposal is followed (publish it first, or again after a failure)",
            publication=publication_id,
            status=publication.status,
        )
    try:
        with RawRpc(rpc_url) as rpc:
            _check_chain(rpc, publication=publication, rpc_url=rpc_url)
            head = head_block(rpc)
            confirmed = head - settings.CONFIRMATION_DEPTH
            publication = _reconcile(rpc, publication=publication, head=head)
            if publication.created_block is None or confirmed < publication.created_block:
                return publication  # created, but not yet past the confirmation depth: nothing counts yet
            scan = _scan(rpc, publication=publication, confirmed=confirmed)
    except _ChainMoved as moved:
        raise ChainUnavailable(f"{moved}: follow again", publication=publication_id) from None
    except ChainError as error:
        raise ChainUnavailable(
            redact(
                f"following publication {publication_id} at {redact_url(rpc_url)} failed: {error}", secrets=[rpc_url]
            ),
            publication=publication_id,
        ) from None
    return _store(publication=publication, scan=scan)


def proposal_status(*, publication_id: int, rpc_url: str | None) -> dict[str, object]:
    """What ``proposal status`` shows: the stored state and tally, the quorum at the snapshot and the time left.

    The quorum and the governor's clock are read at the head when ``rpc_url`` is given (and the
    node answers); without them those entries are None.
    """
    publication = get_publication(publication_id=publication_id)
    venue = publication.venue
    tally = stored_tally(publication)
    quorum = clock = None
    if rpc_url and publication.vote_start is not None:
        try:
            with RawRpc(rpc_url) as rpc:
                quorum, clock = read_quorum_and_clock(rpc, governor=venue.governor, timepoint=publication.vote_start)
        except ChainError as error:
            logger.warning(
                "quorum of publication %s not read: %s", publication_id, redact(str(error), secrets=[rpc_url])
            )
    # GovernorCountingSimple counts For and Abstain towards the quorum.
    counted = tally.for_votes + tally.abstain_votes
    unit = "seconds" if venue.clock_mode.startswith(TIMESTAMP_CLOCK_MODE) else "blocks"
    left = None if clock is None or publication.vote_end is None else max(publication.vote_end - clock, 0)
    return {
        "publication": publication.pk,
        "proposal_id": None if publication.proposal_id is None else str(publication.proposal_id),
        "chain_id": venue.chain_id,
        "governor": venue.governor,
        "state": publication.state or None,
        "tally": tally.as_json(),
        "quorum": None if quorum is None else str(quorum),
        "quorum_counted": str(counted),
        "quorum_reached": None if quorum is None else counted >= quorum,
        "quorum_progress_percent": None if not quorum else f"{counted * 10_000 // quorum / 100:.2f}",
        "vote_start": publication.vote_start,
        "vote_end": publication.vote_end,
        "clock": clock,
        "clock_unit": unit,
        "time_left": left,
        "eta": publication.eta or None,
        "followed_block": publication.followed_block,
        "followed_block_hash": publication.followed_block_hash or None,
        "votes": publication.votes.count(),
        "approvals": [
            {
                "onchain_plan_id": str(approval.onchain_plan_id),
                "token": approval.token,
                "budget": str(approval.budget),
                "batch_count": approval.batch_count,
                "incident_key": approval.incident_key,
                "version": approval.version,
                "delivery": approval.delivery,
                "claim_deadline": approval.claim_deadline,
                "block_number": approval.block_number,
                "tx_hash": approval.tx_hash,
            }
            for approval in publication.approvals.order_by("block_number", "log_index")
        ],
        "error": publication.error or None,
    }


def _check_chain(rpc: RawRpc, *, publication: Publication, rpc_url: str) -> None:
    actual = node_chain_id(rpc)
    if actual != publication.venue.chain_id:
        raise ChainMismatch(
            f"publication {publication.pk} is on chain {publication.venue.chain_id}, but the node at "
            f"{redact_url(rpc_url)} serves chain {actual}",
            expected=publication.venue.chain_id,
            actual=actual,
        )


def _hashes_up_to(rpc: RawRpc, blocks: set[int], *, head: int) -> dict[int, str | None]:
    """The chain's hash of each block; None for a block past the head (the chain got shorter)."""
    known = block_hashes(rpc, [b for b in blocks if b <= head]) if any(b <= head for b in blocks) else {}
    return {block: known.get(block) for block in blocks}


def _reconcile(rpc: RawRpc, *, publication: Publication, head: int) -> Publication:
    """Roll back what a reorg orphaned (see the module); the publication as it is afterwards."""
    points: dict[int, str] = {}
    if publication.created_block is not None and publication.created_block_hash:
        points[publication.created_block] = publication.created_block_hash.lower()
    if publication.followed_block is not None:
        points[publication.followed_block] = publication.followed_block_hash.lower()
    if not points:
        return publication
    top = max(points)
    if _hashes_up_to(rpc, {top}, head=head)[top] == points[top]:
        return publication  # the newest stored block stands, so every earlier one does
    for number, block_hash in publication.votes.values_list("block_number", "block_hash").distinct():
        points[number] = block_hash.lower()
    for number, block_hash in publication.approvals.values_list("block_number", "block_hash").distinct():
        points[number] = block_hash.lower()
    chain = _hashes_up_to(rpc, set(points), head=head)
    standing = [n for n in sorted(points) if chain[n] == points[n]]
    changed = min(n for n in points if chain[n] != points[n])
    keep = max((n for n in standing if n < changed), default=None)
    created = publication.created_block
    if created is None or changed > created:
        logger.warning(
            "publication %s: block %s was reorganised away; rolling back to block %s", publication.pk, changed, keep
        )
        return _roll_back(publication.pk, from_block=changed, cursor=(keep, points[keep]) if keep is not None else None)

    # The creation itself is gone: is the propose transaction mined again, elsewhere?
    moved = transaction_block(rpc, publication.tx_hash) if publication.tx_hash else None
    if moved is not None:
        # Follow from the new creation block (once it is past the confirmation depth).
        logger.warning("publication %s: the proposal's creation moved to block %s by a reorg", publication.pk, moved[0])
        return _roll_back(publication.pk, from_block=0, cursor=None, created=moved)
    reason = (
        f"the block {created} ({publication.created_block_hash}) that created proposal {publication.proposal_id} is no "
        f"longer on the chain (a reorg), and the propose transaction {publication.tx_hash or '(unknown)'} is not "
        "mined again: the proposal does not exist, so its votes, approvals and state were cleared; publish it again"
    )
    logger.warning("publication %s: %s", publication.pk, reason)
    _roll_back(publication.pk, from_block=0, cursor=None, error=ERROR_PREFIX + reason)
    raise ProposalReorgedOut(reason, publication=publication.pk, created_block=created)


def _roll_back(
    publication_id: int,
    *,
    from_block: int,
    cursor: tuple[int, str] | None,
    created: tuple[int, str] | None = None,
    error: str = "",
) -> Publication:
    """Delete the rows at or above ``from_block`` and set the cursor back, in one transaction."""
    with transaction.atomic():
        locked = Publication.objects.select_for_update().get(pk=publication_id)
        VoteRecord.objects.filter(publication=locked, block_number__gte=from_block).delete()
        PlanApproval.objects.filter(publication=locked, block_number__gte=from_block).delete()
        tally = tally_of_records(publication_id=publication_id)
        locked.against_votes, locked.for_votes, locked.abstain_votes = (
            tally.against_votes,
            tally.for_votes,
            tally.abstain_votes,
        )
        locked.followed_block, locked.followed_block_hash = cursor if cursor else (None, "")
        fields = list(_FOLLOWED_FIELDS)
        if cursor is None:
            # Nothing of the proposal is known any more until it is read again.
            locked.state, locked.vote_start, locked.vote_end, locked.eta = "", None, None, None
        if created is not None:
            locked.created_block, locked.created_block_hash = created
            fields += ["created_block", "created_block_hash"]
        if error or locked.error.startswith(ERROR_PREFIX):
            locked.error = error
        locked.save(update_fields=fields)
    return get_publication(publication_id=publication_id)


def _scan(rpc: RawRpc, *, publication: Publication, confirmed: int) -> _Scan:
    venue = publication.venue
    proposal_id = int(publication.proposal_id)  # type: ignore[arg-type]
    confirmed_hash = block_hashes(rpc, [confirmed])[confirmed]
    start = publication.created_block if publication.followed_block is None else publication.followed_block + 1
    votes: list[VoteLog] = []
    approvals: list[ApprovalLog] = []
    if start is not None and start <= confirmed:
        plan_ids = _plan_ids(publication)
        topics = [VOTE_CAST_TOPIC, VOTE_CAST_WITH_PARAMS_TOPIC, PLAN_APPROVED_TOPIC]
        for page in scan_raw_logs(rpc, [venue.governor, venue.recovery_executor], topics, start, confirmed):
            votes += decode_votes(page.logs, governor=venue.governor, proposal_id=proposal_id)
            if plan_ids:
                approvals += decode_approvals(page.logs, recovery_executor=venue.recovery_executor, plan_ids=plan_ids)
    # The pinned block and every new row's block must still be the chain's: else a reorg ran during the scan.
    seen = {confirmed: confirmed_hash} | {row.block_number: row.block_hash for row in [*votes, *approvals]}
    now = block_hashes(rpc, list(seen))
    moved = sorted(n for n in seen if now[n] != seen[n])
    if moved:
        raise _ChainMoved(f"block {moved[0]} changed while publication {publication.pk} was being followed (a reorg)")
    reading = read_proposal(rpc, governor=venue.governor, proposal_id=proposal_id, block_hash=confirmed_hash)
    return _Scan(confirmed, confirmed_hash, votes, approvals, reading)


def _plan_ids(publication: Publication) -> dict[int, PlanAsset]:
    """The document's plan assets by their on-chain plan id (what its approvePlan calls approve)."""
    assets = PlanAsset.objects.filter(plan_id=publication.document.plan_id, onchain_plan_id__isnull=False)
    return {int(asset.onchain_plan_id): asset for asset in assets}  # type: ignore[arg-type]


def _store(*, publication: Publication, scan: _Scan) -> Publication:
    before = stored_tally(publication)
    added = {0: 0, 1: 0, 2: 0}
    for vote in scan.votes:
        added[vote.support] = added.get(vote.support, 0) + vote.weight
    tally = Tally(before.against_votes + added[0], before.for_votes + added[1], before.abstain_votes + added[2])
    reading = scan.reading
    if reading is None:
        # The creation block stands (checked first), yet the governor knows no such proposal.
        _fail(
            publication,
            f"the governor {publication.venue.governor} has no proposal {publication.proposal_id} at "
            f"block {scan.confirmed}, although block {publication.created_block} that created it stands",
        )
    chain = Tally(reading.against_votes, reading.for_votes, reading.abstain_votes)
    if tally != chain:
        _fail(
            publication,
            f"the indexed votes of proposal {publication.proposal_id} up to block {scan.confirmed} "
            f"({scan.confirmed_hash}) sum to for {tally.for_votes}, against {tally.against_votes}, abstain "
            f"{tally.abstain_votes}, but the governor's proposalVotes there is for {chain.for_votes}, against "
            f"{chain.against_votes}, abstain {chain.abstain_votes}: nothing of this run was stored",
        )
    plan_assets = _plan_ids(publication) if scan.approvals else {}
    with transaction.atomic():
        locked = Publication.objects.select_for_update().get(pk=publication.pk)
        if (locked.followed_block, locked.followed_block_hash) != (
            publication.followed_block,
            publication.followed_block_hash,
        ) or (locked.created_block_hash != publication.created_block_hash):
            return get_publication(
                publication_id=publication.pk
            )  # another run moved the cursor meanwhile: its rows stand
        VoteRecord.objects.bulk_create(
            [
                VoteRecord(
                    publication=locked,
                    voter=vote.voter,
                    support=vote.support,
                    weight=vote.weight,
                    reason=vote.reason,
                    with_params=vote.params is not None,
                    params=vote.params or "",
                    block_number=vote.block_number,
                    block_hash=vote.block_hash,
                    tx_hash=vote.tx_hash,
                    log_index=vote.log_index,
                )
                for vote in scan.votes
            ],
            batch_size=2_000,
        )
        for approval in scan.approvals:
            PlanApproval.objects.update_or_create(
                chain_id=locked.venue.chain_id,
                recovery_executor=to_checksum_address(approval.recovery_executor),
                onchain_plan_id=approval.plan_id,
                defaults={
                    "plan_asset": plan_assets[approval.plan_id],
                    "publication": locked,
                    "batches_root": approval.batches_root,
                    "token": approval.token,
                    "mode": approval.mode,
                    "batch_count": approval.batch_count,
                    "budget": approval.budget,
                    "incident_key": approval.incident_key,
                    "version": approval.version,
                    "delivery": approval.delivery,
                    "claim_deadline": approval.claim_deadline,
                    "block_number": approval.block_number,
                    "block_hash": approval.block_hash,
                    "tx_hash": approval.tx_hash,
                    "log_index": approval.log_index,
                },
            )
        locked.state = reading.state
        locked.vote_start, locked.vote_end = reading.snapshot, reading.deadline
        locked.eta = reading.eta or None
        locked.against_votes, locked.for_votes, locked.abstain_votes = (
            tally.against_votes,
            tally.for_votes,
            tally.abstain_votes,
        )
        locked.followed_block, locked.followed_block_hash = scan.confirmed, scan.confirmed_hash
        if locked.error.startswith(ERROR_PREFIX):
            locked.error = ""
        locked.save(update_fields=_FOLLOWED_FIELDS)
    return get_publication(publication_id=publication.pk)


def _fail(publication: Publication, reason: str) -> None:
    """Store ``reason`` on the publication, log it and raise ``TallyMismatch``."""
    logger.error("publication %s: %s", publication.pk, reason)
    Publication.objects.filter(pk=publication.pk).update(error=ERROR_PREFIX + reason)
    raise TallyMismatch(reason, publication=publication.pk)
