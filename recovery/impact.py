"""Incidents and their impact: open an incident, request an analysis, compute it (resumably).

``compute_impact`` is what the Celery task runs. It replays each tracked token's Transfer
logs to the rollback and reference blocks, checkpointing the replay into the analysis row
so a retried or restarted task continues from the last finished block range. The per-account
rows and the summary are written in one transaction at the end: a failed or cancelled
analysis leaves no rows behind, and whatever goes wrong, at any step, the analysis ends
*failed* with the (redacted) error, never stuck *running*.

Chain identity: an analysis is checked against the node when requested and again when it
runs (the incident's chain id, the hash of each block it uses). Stored balance snapshots carry
their block's hash and are used only while the chain still has that block.
"""

import datetime
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from chain.balances import check_erc20, read_balances, token_decimals
from chain.blocks import BlockMissing, block_hashes, head_block, node_chain_id
from chain.errors import ChainError, NotAnErc20, ReplayMismatch
from chain.feeds import NotAPriceFeed, read_feed
from chain.logs import RawRpc, scan_raw_transfers
from chain.positions import READERS
from chain.redaction import redact, redact_url
from chain.replay import TwoBlockReplay, pack, pack_balances, unpack, unpack_balances
from recovery.diff import AccountDelta, Price, diff_balances, summarize
from recovery.exceptions import (
    AnalysisNotFound,
    ChainMismatch,
    ChainUnavailable,
    IncidentNotFound,
    InvalidInput,
)
from recovery.margin_impact import MarketImpact, margin_positions_in_asset, read_margin_impact, store_margin_impact
from recovery.models import (
    AccountImpact,
    AnalysisStatus,
    BalanceSnapshot,
    ImpactAnalysis,
    ImpactKind,
    Incident,
    IncidentKind,
    IncidentStatus,
)
from recovery.storage import bulk_insert
from recovery.validation import parse_address, parse_addresses, parse_tx_hashes

CHECKPOINT_SECONDS = 2.0
CROSS_CHECK_SAMPLE = 200
# EIP-2294: a chain id fits in floor(MAX_UINT64 / 2) - 36, so that EIP-155's v = id * 2 + 36
# fits in a uint64 (and the id in PostgreSQL's bigint, the column type).
MAX_CHAIN_ID = (2**64 - 1) // 2 - 36
log = logging.getLogger(__name__)
ACTIVE = (AnalysisStatus.PENDING, AnalysisStatus.RUNNING)


@transaction.atomic
def open_incident(
    *,
    title: str,
    kind: str,
    chain_id: int,
    affected_contracts: Sequence[str] = (),
    affected_tokens: Sequence[str] = (),
    detected_block: int | None = None,
    exploit_transactions: Sequence[str] = (),
    exploiter_addresses: Sequence[str] = (),
    description: str = "",
    opened_by: AbstractBaseUser | None = None,
    opened_via: str = "api",
) -> Incident:
    if not title.strip():
        raise InvalidInput("title is empty: say in a few words what broke", field="title")
    if kind not in IncidentKind.values:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(IncidentKind.values)}", field="kind")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 1 <= chain_id <= MAX_CHAIN_ID:
        raise InvalidInput(
            f"chain_id {chain_id!r} is not a chain id: a whole number from 1 to {MAX_CHAIN_ID} (EIP-2294)",
            field="chain_id",
        )
    if detected_block is not None and detected_block < 0:
        raise InvalidInput("detected_block must be a block number (0 or more)", field="detected_block")
    return Incident.objects.create(
        title=title.strip(),
        kind=kind,
        chain_id=chain_id,
        affected_contracts=parse_addresses(list(affected_contracts), field="affected_contracts"),
        affected_tokens=parse_addresses(list(affected_tokens), field="affected_tokens"),
        detected_block=detected_block,
        exploit_transactions=parse_tx_hashes(list(exploit_transactions), field="exploit_transactions"),
        exploiter_addresses=parse_addresses(list(exploiter_addresses), field="exploiter_addresses"),
        description=description,
        opened_by=opened_by,
        opened_via=opened_via,
    )


def get_incident(incident_id: int) -> Incident:
    try:
        return Incident.objects.get(pk=incident_id)
    except Incident.DoesNotExist:
        raise IncidentNotFound(f"there is no incident {incident_id}", incident=incident_id) from None


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """What checking an analysis request against the node found."""

    tokens: list[str]  # checksummed
    chain_id: int  # the node's
    head: int
    block_hashes: dict[int, str]  # rollback, reference and from block
    unconfirmed: bool  # the reference block is within the confirmation depth of the head


def check_analysis_request(
    *,
    rpc_url: str,
    rollback_block: int,
    reference_block: int,
    from_block: int,
    assets: Sequence[str],
    chain_id: int | None = None,
    confirmation_depth: int = 0,
    allow_unconfirmed: bool = False,
    price_feed: str = "",
) -> CheckedRequest:
    """Validate blocks against the chain head and each asset as an ERC-20.

    With ``chain_id``, the node must serve that chain (``ChainMismatch``, 409). A reference
    block less than ``confirmation_depth`` blocks below the head is refused unless
    ``allow_unconfirmed`` (then the result says ``unconfirmed``). A ``price_feed`` must answer
    ``latestRoundData`` at the rollback block, where the analysis reads it. Reads the chain,
    so it runs before any transaction opens.
    """
    tokens = parse_addresses(list(assets), field="assets")
    if not tokens:
        raise InvalidInput("assets is empty: name at least one ERC-20 token to track", field="assets")
    for name, block in (
        ("rollback_block", rollback_block),
        ("reference_block", reference_block),
        ("from_block", from_block),
    ):
        if isinstance(block, bool) or not isinstance(block, int) or block < 0:
            raise InvalidInput(f"{name} must be a block number (0 or more)", field=name)
    if rollback_block > reference_block:
        raise InvalidInput(
            f"rollback_block {rollback_block} is after reference_block {reference_block}: "
            "the rollback block is the last good block, before the reference block",
            field="rollback_block",
        )
    # The scan must cover the rollback block: balances there are what the scan has seen by then,
    # and a scan starting later would take every balance at the rollback block as zero.
    if from_block > rollback_block:
        raise InvalidInput(
            f"from_block {from_block} is after the rollback block {rollback_block}: the log scan must start "
            "at or before the token's first transfer, so at or before the rollback block",
            field="from_block",
        )
    try:
        with RawRpc(rpc_url) as rpc:
            node_chain = node_chain_id(rpc)
            if chain_id is not None and node_chain != chain_id:
                raise ChainMismatch(
                    f"the incident is on chain {chain_id}, but the node at {redact_url(rpc_url)} serves chain "
                    f"{node_chain}: point the node setting at chain {chain_id}, or open the incident on chain "
                    f"{node_chain}",
                    incident_chain_id=chain_id,
                    node_chain_id=node_chain,
                )
            head = head_block(rpc)
            if reference_block > head:
                raise InvalidInput(
                    f"reference_block {reference_block} is past the chain head {head}", field="reference_block"
                )
            unconfirmed = head - reference_block < confirmation_depth
            if unconfirmed and not allow_unconfirmed:
                raise InvalidInput(
                    f"reference_block {reference_block} is {head - reference_block} blocks below the chain head "
                    f"{head}, within the confirmation depth of {confirmation_depth} (a reorg may still change it): "
                    f"choose a block at or below {head - confirmation_depth}, or ask for it explicitly with "
                    "allow_unconfirmed (the analysis is then marked unconfirmed)",
                    field="reference_block",
                    head=head,
                    confirmation_depth=confirmation_depth,
                )
            for token in tokens:
                check_erc20(rpc, token, reference_block)
            if price_feed:
                try:
                    read_feed(rpc, price_feed, rollback_block)
                except NotAPriceFeed as error:
                    raise InvalidInput(str(error), field="price_feed") from None
            hashes = block_hashes(rpc, {rollback_block, reference_block, from_block})
    except NotAnErc20 as error:
        raise InvalidInput(str(error), field="assets") from None
    except ChainError as error:
        raise ChainUnavailable(_redacted(f"the node at {rpc_url} failed: {error}", rpc_url)) from None
    return CheckedRequest(tokens=tokens, chain_id=node_chain, head=head, block_hashes=hashes, unconfirmed=unconfirmed)


def check_position_readers(
    *, rpc_url: str, tokens: Sequence[str], positions: Mapping[str, str], block: int
) -> dict[str, str]:
    """Validate ``{token: reader}``: each token tracked, each reader known and fitting the token."""
    if not isinstance(positions, Mapping):
        raise InvalidInput("positions must map token addresses to a reader name", field="positions")
    readers = {}
    for key, name in positions.items():
        token = parse_address(key, field="positions")
        if token not in tokens:
            raise InvalidInput(f"positions names {token}, which is not among the tracked assets", field="positions")
        if name not in READERS:
            raise InvalidInput(f"position reader {name!r} is not one of {', '.join(READERS)}", field="positions")
        try:
            with RawRpc(rpc_url) as rpc:
                READERS[name].underlying(rpc, token, block)
        except NotAnErc20 as error:
            raise InvalidInput(f"positions: {error}", field="positions") from None
        except ChainError as error:
            raise ChainUnavailable(_redacted(f"the node at {rpc_url} failed: {error}", rpc_url)) from None
        readers[token] = name
    return readers


def request_impact(
    *,
    incident_id: int,
    rpc_url: str,
    rollback_block: int,
    reference_block: int,
    from_block: int = 0,
    assets: Sequence[str] | None = None,
    price_feed: str | None = None,
    positions: Mapping[str, str] | None = None,
    allow_unconfirmed: bool = False,
    confirmation_depth: int | None = None,
) -> ImpactAnalysis:
    """Create a pending analysis after checking its request against the chain; the caller enqueues it.

    The node must serve the incident's chain; the analysis records the node's chain id and the
    hash of each block it uses. ``confirmation_depth`` defaults to the ``CONFIRMATION_DEPTH``
    setting; a reference block closer to the head is taken only with ``allow_unconfirmed``.
    ``positions`` maps tracked tokens to a position reader (``chain.positions.READERS``), so
    the analysis also values those balances in the token's underlying asset.
    """
    incident = get_incident(incident_id)
    feed = parse_address(price_feed, field="price_feed") if price_feed else ""
    checked = check_analysis_request(
        rpc_url=rpc_url,
        rollback_block=rollback_block,
        reference_block=reference_block,
        from_block=from_block,
        assets=list(assets) if assets else list(incident.affected_tokens),
        chain_id=incident.chain_id,
        confirmation_depth=settings.CONFIRMATION_DEPTH if confirmation_depth is None else confirmation_depth,
        allow_unconfirmed=allow_unconfirmed,
        price_feed=feed,
    )
    tokens = checked.tokens
    readers = check_position_readers(rpc_url=rpc_url, tokens=tokens, positions=positions or {}, block=reference_block)
    with transaction.atomic():
        analysis = ImpactAnalysis.objects.create(
            incident=incident,
            rollback_block=rollback_block,
            reference_block=reference_block,
            from_block=from_block,
            tracked_assets=tokens,
            price_feed=feed,
            position_readers=readers,
            blocks_total=(reference_block - from_block + 1) * len(tokens),
            node_chain_id=checked.chain_id,
            rollback_block_hash=checked.block_hashes[rollback_block],
            reference_block_hash=checked.block_hashes[reference_block],
            from_block_hash=checked.block_hashes[from_block],
            unconfirmed=checked.unconfirmed,
        )
        Incident.objects.filter(pk=incident.pk, status=IncidentStatus.OPEN).update(status=IncidentStatus.ANALYSING)
    return analysis


def find_lost_analyses(*, pending_seconds: float, lease_seconds: float) -> list[int]:
    """Analyses whose task message may be lost: pending for over ``pending_seconds`` (the broker
    was down when they were requested), or running with no sign of life for ``lease_seconds``
    (their worker died). Enqueuing one again is safe: ``compute_impact`` returns at once for a
    finished analysis and for one another worker is running."""
    now = timezone.now()
    pending = ImpactAnalysis.objects.filter(
        status=AnalysisStatus.PENDING, created_at__lt=now - datetime.timedelta(seconds=pending_seconds)
    )
    stale = ImpactAnalysis.objects.filter(
        status=AnalysisStatus.RUNNING, heartbeat_at__lt=now - datetime.timedelta(seconds=lease_seconds)
    )
    return sorted(set(pending.values_list("pk", flat=True)) | set(stale.values_list("pk", flat=True)))


def lock_analysis(analysis_id: int) -> ImpactAnalysis:
    try:
        return ImpactAnalysis.objects.select_for_update().get(pk=analysis_id)
    except ImpactAnalysis.DoesNotExist:
        raise AnalysisNotFound(f"there is no impact analysis {analysis_id}", analysis=analysis_id) from None


@transaction.atomic
def cancel_impact(*, analysis_id: int) -> ImpactAnalysis:
    """Ask a running analysis to stop at its next checkpoint (or before it stores anything); a
    pending or failed one stops at once."""
    analysis = lock_analysis(analysis_id)
    if analysis.status in (AnalysisStatus.COMPLETED, AnalysisStatus.CANCELLED):
        return analysis
    analysis.cancel_requested = True
    if analysis.status in (AnalysisStatus.PENDING, AnalysisStatus.FAILED):
        analysis.status = AnalysisStatus.CANCELLED
        analysis.finished_at = timezone.now()
    analysis.save(update_fields=["cancel_requested", "status", "finished_at"])
    if analysis.status == AnalysisStatus.CANCELLED:
        _release_incident(analysis.incident_id)
    return analysis


def compute_impact(
    *,
    analysis_id: int,
    rpc_url: str,
    chunk: int | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    lease_seconds: float | None = None,
) -> ImpactAnalysis:
    """Run (or resume) the analysis to completion. Safe to call again after any failure.

    Returns at once for a finished analysis, and for one another worker is running (its
    heartbeat younger than ``lease_seconds``, default the ``IMPACT_RUNNING_LEASE_SECONDS``
    setting): the row lock makes the status change the claim, so two tasks never scan the same
    analysis at once. The node must still serve the incident's chain and the blocks recorded at
    request time (``ChainMismatch`` otherwise). Any error ends the analysis *failed* with the
    error, redacted, and propagates (the task retries node failures); the checkpoint of the last
    finished block range is kept for the retry. The result rows are written only at the end.
    """
    lease = settings.IMPACT_RUNNING_LEASE_SECONDS if lease_seconds is None else lease_seconds
    with transaction.atomic():
        analysis = lock_analysis(analysis_id)
        if analysis.status in (AnalysisStatus.COMPLETED, AnalysisStatus.CANCELLED):
            return analysis
        now = timezone.now()
        if analysis.cancel_requested:
            return _cancel_locked(analysis)
        if (
            analysis.status == AnalysisStatus.RUNNING
            and analysis.heartbeat_at is not None
            and now - analysis.heartbeat_at < datetime.timedelta(seconds=lease)
        ):
            return analysis  # another worker is running it
        analysis.status = AnalysisStatus.RUNNING
        analysis.started_at = analysis.started_at or now
        analysis.heartbeat_at = now
        analysis.error = ""
        analysis.save(update_fields=["status", "started_at", "heartbeat_at", "error"])

    started = time.monotonic()
    rpc: RawRpc | None = None
    try:
        rpc = RawRpc(rpc_url)
        _check_chain(rpc, analysis, rpc_url)
        replays = _load_replays(rpc, analysis)
        for replay in replays.values():
            if replay.done:
                continue
            last_save = time.monotonic()
            pages = scan_raw_transfers(
                rpc,
                replay.token,
                replay.last_block + 1,
                analysis.reference_block,
                **({"chunk": chunk} if chunk else {}),
            )
            try:
                for page in pages:
                    replay.advance(page)
                    if time.monotonic() - last_save >= checkpoint_seconds:
                        if _checkpoint(analysis.pk, replays, started, analysis.seconds_scanning):
                            return _mark_cancelled(analysis.pk)
                        last_save = time.monotonic()
            finally:
                pages.close()  # type: ignore[attr-defined]
        if _checkpoint(analysis.pk, replays, started, analysis.seconds_scanning):
            return _mark_cancelled(analysis.pk)
        results = {token: replay.result() for token, replay in replays.items()}
        # Margin markets are read once (one log scan for both blocks), then valued for both the
        # margin rows and the positions reader.
        margin = read_margin_impact(rpc, analysis)
        positions = _read_positions(rpc, analysis, results, margin=margin)
        # Again after the scan and the position reads: the logs and calls must be those of the
        # recorded blocks (no reorg meanwhile).
        _check_chain(rpc, analysis, rpc_url)
        price, warnings = _read_price(rpc, analysis)
        decimals = token_decimals(rpc, analysis.tracked_assets, analysis.reference_block)
        cross_check = {
            token: _cross_check(rpc, token, results[token], analysis.rollback_block, analysis.reference_block)
            for token in results
        }
        return _store_impact(
            analysis.pk,
            results,
            positions=positions,
            margin=margin,
            price=price,
            decimals=decimals,
            cross_check=cross_check,
            warnings=warnings,
        )
    except BaseException as error:
        # Whatever stopped it (the node, a reorg, the store, an interrupt), the analysis must not
        # stay "running": record it, keep the checkpoint for a retry, and let the error propagate.
        _record_failure(analysis.pk, error, rpc_url)
        raise
    finally:
        if rpc is not None:
            rpc.close()


def _check_chain(rpc: RawRpc, analysis: ImpactAnalysis, rpc_url: str) -> None:
    """``ChainMismatch`` unless the node serves the incident's chain and still has the recorded blocks."""
    expected = analysis.node_chain_id or analysis.incident.chain_id
    actual = node_chain_id(rpc)
    if actual != expected:
        raise ChainMismatch(
            f"the analysis is of chain {expected}, but the node at {redact_url(rpc_url)} serves chain {actual}: "
            f"point the worker's node setting at chain {expected}",
            expected_chain_id=expected,
            node_chain_id=actual,
        )
    recorded = {
        analysis.rollback_block: analysis.rollback_block_hash,
        analysis.reference_block: analysis.reference_block_hash,
        analysis.from_block: analysis.from_block_hash,
    }
    recorded = {block: value for block, value in recorded.items() if value}  # analyses from before hashes were kept
    if not recorded:
        return
    try:
        current = block_hashes(rpc, recorded)
    except BlockMissing as error:
        raise ChainMismatch(
            f"the node no longer has block {error.block} (a reorg, or a restarted chain): request a new analysis",
            block=error.block,
        ) from None
    for block, value in sorted(recorded.items()):
        if current[block] != value:
            raise ChainMismatch(
                f"block {block} is now {current[block]}, not {value} as when the analysis was requested (a reorg, "
                "or a restarted chain): request a new analysis",
                block=block,
            )


def _load_replays(rpc: RawRpc, analysis: ImpactAnalysis) -> dict[str, TwoBlockReplay]:
    """Each asset's replay: from the checkpoint, else from the latest stored snapshot the chain still
    has (a snapshot whose block hash no longer matches is deleted), else from ``from_block``."""
    saved = unpack(bytes(analysis.partial_state)) if analysis.partial_state else {}
    replays = {}
    for token in analysis.tracked_assets:
        key = token.lower()
        if key in saved:
            replays[key] = TwoBlockReplay.from_json(saved[key])
            continue
        snapshot = _valid_snapshot(rpc, analysis, token)
        replays[key] = TwoBlockReplay.start(
            token=token,
            rollback_block=analysis.rollback_block,
            reference_block=analysis.reference_block,
            from_block=snapshot.block + 1 if snapshot else analysis.from_block,
            start=unpack_balances(bytes(snapshot.balances)) if snapshot else None,
        )
    return replays


def _valid_snapshot(rpc: RawRpc, analysis: ImpactAnalysis, token: str) -> BalanceSnapshot | None:
    candidates = BalanceSnapshot.objects.filter(
        chain_id=analysis.node_chain_id or analysis.incident.chain_id,
        token=token,
        block__lte=analysis.rollback_block,
        block__gte=analysis.from_block - 1,
        from_block__lte=analysis.from_block,
    ).order_by("-block", "-pk")
    for snapshot in candidates.iterator():
        try:
            current = block_hashes(rpc, [snapshot.block])[snapshot.block]
        except BlockMissing:
            current = ""
        if snapshot.block_hash and snapshot.block_hash == current:
            return snapshot
        # Built from blocks the chain no longer has: never replay from it.
        BalanceSnapshot.objects.filter(pk=snapshot.pk).delete()
    return None


def _checkpoint(analysis_id: int, replays: dict[str, TwoBlockReplay], started: float, earlier_seconds: float) -> bool:
    """Save progress and every replay's state; True when a cancel was requested."""
    state = pack({token: replay.to_json() for token, replay in replays.items()})
    with transaction.atomic():
        row = lock_analysis(analysis_id)
        if row.cancel_requested:
            return True
        row.partial_state = state
        row.blocks_done = sum(r.last_block - row.from_block + 1 for r in replays.values())
        row.logs_done = sum(r.logs_applied for r in replays.values())
        row.seconds_scanning = earlier_seconds + time.monotonic() - started
        row.heartbeat_at = timezone.now()
        row.save(update_fields=["partial_state", "blocks_done", "logs_done", "seconds_scanning", "heartbeat_at"])
    return False


def _read_positions(
    rpc: RawRpc,
    analysis: ImpactAnalysis,
    results: dict[str, tuple[dict[str, int], dict[str, int]]],
    *,
    margin: Mapping[str, MarketImpact],
) -> dict[str, tuple[str, dict[str, int], dict[str, int]]]:
    """For each token with a reader: (underlying, positions at the rollback block, at the reference block).

    A margin market's positions come from ``margin`` (already read and cross-checked): the same
    values its reader computes (``MarginMarketPositions``), without scanning the market again.
    """
    positions = {}
    for token, name in analysis.position_readers.items():
        reader = READERS[name]
        before, after = results[token.lower()]
        underlying = reader.underlying(rpc, token, analysis.reference_block)
        if token in margin:
            positions[token] = (underlying, *margin_positions_in_asset(margin[token], before, after))
            continue
        positions[token] = (
            underlying,
            reader.positions(rpc, token, before, analysis.rollback_block),
            reader.positions(rpc, token, after, analysis.reference_block),
        )
    return positions


def _cross_check(
    rpc: RawRpc,
    token: str,
    result: tuple[dict[str, int], dict[str, int]],
    rollback_block: int,
    reference_block: int,
) -> int:
    """Compare the replay with ``balanceOf`` for a sample of accounts at both blocks.

    The sample: the accounts whose balance changed most, plus a spread of the rest chosen by
    address order, ``CROSS_CHECK_SAMPLE`` in all (every account when there are fewer). A
    token whose balances move without Transfer events (rebasing, fee-on-transfer accounting
    bugs) fails here instead of producing a wrong diff. Returns how many accounts were checked.
    """
    before, after = result
    accounts = sorted(set(before) | set(after))
    if len(accounts) > CROSS_CHECK_SAMPLE:
        moved = sorted(accounts, key=lambda a: -abs(after.get(a, 0) - before.get(a, 0)))[: CROSS_CHECK_SAMPLE // 2]
        step = max(1, len(accounts) // (CROSS_CHECK_SAMPLE - len(moved)))
        accounts = sorted(set(moved) | set(accounts[::step]))
    for block, replayed in ((rollback_block, before), (reference_block, after)):
        read = read_balances(rpc, token, accounts, block)
        wrong = [a for a in accounts if read[a] != replayed.get(a, 0)]
        if wrong:
            first = wrong[0]
            raise ReplayMismatch(
                f"{token}: balances replayed from Transfer logs differ from balanceOf at block {block} for "
                f"{len(wrong)} of {len(accounts)} sampled accounts (first {first}: replay {replayed.get(first, 0)}, "
                f"balanceOf {read[first]}); the token moves balances without Transfer events"
            )
    return len(accounts)


def _release_incident(incident_id: int) -> None:
    """An incident analysing nothing any more goes back to *open*. Call inside a transaction.

    Back to open, not on to planning: a failed or cancelled analysis gives nothing to plan
    from, and *open* is where a new analysis is requested (or a plan built from an earlier
    completed one, which moves it to planning).
    """
    if not ImpactAnalysis.objects.filter(incident_id=incident_id, status__in=ACTIVE).exists():
        Incident.objects.filter(pk=incident_id, status=IncidentStatus.ANALYSING).update(status=IncidentStatus.OPEN)


def _cancel_locked(row: ImpactAnalysis) -> ImpactAnalysis:
    """End the locked ``row`` cancelled. Call inside the transaction holding its lock."""
    row.status = AnalysisStatus.CANCELLED
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "finished_at"])
    _release_incident(row.incident_id)
    return row


def _mark_cancelled(analysis_id: int) -> ImpactAnalysis:
    with transaction.atomic():
        return _cancel_locked(lock_analysis(analysis_id))


def _record_failure(analysis_id: int, error: BaseException, rpc_url: str) -> None:
    with transaction.atomic():
        row = lock_analysis(analysis_id)
        if row.status != AnalysisStatus.RUNNING:
            return
        row.status = AnalysisStatus.FAILED
        row.error = _redacted(f"{type(error).__name__}: {error}", rpc_url)
        row.finished_at = timezone.now()
        fields = ["status", "error", "finished_at"]
        if isinstance(error, ChainMismatch):
            row.partial_state = None  # built from blocks the chain may no longer have
            fields.append("partial_state")
        row.save(update_fields=fields)
        _release_incident(row.incident_id)


def _redacted(text: str, rpc_url: str) -> str:
    """``text`` without the RPC URL's secrets (an API key in its path or query)."""
    return redact(text, secrets=[rpc_url])


def _read_price(rpc: RawRpc, analysis: ImpactAnalysis) -> tuple[tuple[int, int] | None, list[str]]:
    """The feed's (answer, decimals) at the rollback block, or None, with the warnings saying why.

    A feed answering zero or less, or failing outright, is an oracle failure (exactly what an
    incident may be): the losses are then not valued, and the summary says so.
    """
    if not analysis.price_feed:
        return None, []
    try:
        answer = read_feed(rpc, analysis.price_feed, analysis.rollback_block)
    except NotAPriceFeed as error:
        return None, [f"no price: {error}; losses are not valued"]
    if answer.answer <= 0:
        return None, [
            f"no price: the price feed {analysis.price_feed} answered {answer.answer} (round {answer.round_id}) at "
            f"block {analysis.rollback_block}, not a positive price; losses are not valued"
        ]
    return (answer.answer, answer.decimals), []


def _store_impact(
    analysis_id: int,
    results: dict[str, tuple[dict[str, int], dict[str, int]]],
    *,
    positions: dict[str, tuple[str, dict[str, int], dict[str, int]]],
    margin: Mapping[str, MarketImpact] | None = None,
    price: tuple[int, int] | None,
    decimals: dict[str, int],
    cross_check: dict[str, int],
    warnings: Sequence[str] = (),
) -> ImpactAnalysis:
    """Write every account row, the snapshots and the summary in one transaction.

    A cancel that arrived after the last checkpoint still wins: under the row lock, a cancel
    request ends the analysis cancelled and nothing is written.
    """
    started = time.monotonic()
    analysis = ImpactAnalysis.objects.select_related("incident").get(pk=analysis_id)
    exploiters = analysis.incident.exploiter_addresses
    summaries = {}
    deltas_by_asset: dict[str, list[AccountDelta]] = {}
    for token in analysis.tracked_assets:
        before, after = results[token.lower()]
        deltas = diff_balances(asset=token, before=before, after=after)
        deltas_by_asset[token] = deltas
        asset_price = (
            Price(answer=price[0], decimals=price[1], asset_decimals=decimals.get(token, 0)) if price else None
        )
        summaries[token] = summarize(deltas, asset=token, exploiters=exploiters, price=asset_price).as_json()
    position_deltas: dict[str, list[AccountDelta]] = {}
    position_summaries = {}
    for token, (underlying, before, after) in positions.items():
        deltas = diff_balances(asset=token, before=before, after=after)
        position_deltas[token] = deltas
        position_summaries[token] = {
            "underlying": to_checksum_address(underlying),
            "reader": analysis.position_readers[token],
            **summarize(deltas, asset=token, exploiters=exploiters).as_json(),
        }
    with transaction.atomic():
        row = lock_analysis(analysis_id)
        if row.status != AnalysisStatus.RUNNING:
            return row  # cancelled meanwhile, or another run finished first
        if row.cancel_requested:
            return _cancel_locked(row)
        AccountImpact.objects.filter(analysis=row).delete()
        bulk_insert(
            AccountImpact,
            ["analysis", "account", "asset", "kind", "before", "after", "delta"],
            (
                (row.pk, d.account, token, kind, d.before, d.after, d.delta)
                for kind, by_asset in ((ImpactKind.BALANCE, deltas_by_asset), (ImpactKind.POSITION, position_deltas))
                for token, deltas in by_asset.items()
                for d in deltas
            ),
        )
        # An unconfirmed analysis stores no snapshot: its blocks may still be reorganised away.
        # (Every snapshot is also checked by block hash before use, so this only saves churn.)
        if not row.unconfirmed:
            _store_snapshots(row, results)
        margin_summary = store_margin_impact(analysis=row, impacts=margin or {})
        row.status = AnalysisStatus.COMPLETED
        row.summary = {
            "assets": summaries,
            "positions": position_summaries,
            "margin": margin_summary,
            "decimals": decimals,
            "cross_checked_accounts": cross_check,
            "price": None if price is None else {"answer": str(price[0]), "decimals": price[1]},
            "warnings": list(warnings),
            "chain_id": row.node_chain_id,
            "unconfirmed": row.unconfirmed,
            "block_hashes": {
                "rollback": row.rollback_block_hash,
                "reference": row.reference_block_hash,
                "from": row.from_block_hash,
            },
        }
        row.partial_state = None
        row.finished_at = timezone.now()
        row.seconds_storing = time.monotonic() - started
        row.save()
    analyze_impact_table()
    return row


def analyze_impact_table() -> None:
    """Give PostgreSQL's planner the account rows just stored: ``VACUUM (ANALYZE)``, or ``ANALYZE`` in a transaction.

    Without statistics (before autovacuum gets to the table, which on a large table waits for a
    fifth of its size in new rows) the planner takes an analysis's rows for a handful and walks
    ``impact_delta`` over every loser for an address search (375-485 ms on 100,000 rows, against
    0.3 ms once analysed: benchmarks/RESULTS.md, "Web load"). The VACUUM also marks the new pages
    all-visible, so the accounts table's deep pages are index-only scans of
    ``impact_delta_account``. Both read only a bounded sample or the new pages: about 0.2 s per
    100,000 rows. VACUUM cannot run inside a transaction block; there (a caller's transaction, the
    test suite) only ANALYZE runs. It follows the commit; a failure only leaves it to autovacuum.
    """
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(AccountImpact._meta.db_table)
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {table}")
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
    except DatabaseError as error:
        log.warning("the planner statistics of the impact rows were not refreshed; autovacuum will: %s", error)


def _store_snapshots(row: ImpactAnalysis, results: dict[str, tuple[dict[str, int], dict[str, int]]]) -> None:
    chain_id = row.node_chain_id or row.incident.chain_id
    for token in row.tracked_assets:
        before, after = results[token.lower()]
        for block, block_hash, balances in (
            (row.rollback_block, row.rollback_block_hash, before),
            (row.reference_block, row.reference_block_hash, after),
        ):
            if not block_hash:
                continue  # an analysis from before hashes were kept: its snapshot could never be checked
            BalanceSnapshot.objects.get_or_create(
                chain_id=chain_id,
                token=token,
                block=block,
                block_hash=block_hash,
                defaults={
                    "from_block": row.from_block,
                    "account_count": len(balances),
                    "balances": pack_balances(balances),
                },
            )
