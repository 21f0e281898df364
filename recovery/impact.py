"""Incidents and their impact: open an incident, request an analysis, compute it (resumably).

``compute_impact`` is what the Celery task runs. It replays each tracked token's Transfer
logs to the rollback and reference blocks, checkpointing the replay into the analysis row
so a retried or restarted task continues from the last finished block range. The per-account
rows and the summary are written in one transaction at the end: a failed or cancelled
analysis leaves no rows behind.
"""

import time
from collections.abc import Mapping, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from chain.balances import check_erc20, read_balances
from chain.errors import ChainError, NotAnErc20, ReplayMismatch
from chain.logs import RawRpc, scan_raw_transfers
from chain.positions import READERS
from chain.replay import TwoBlockReplay, pack, pack_balances, unpack, unpack_balances
from recovery.diff import AccountDelta, Price, diff_balances, summarize
from recovery.exceptions import AnalysisNotFound, ChainUnavailable, IncidentNotFound, InvalidInput
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
DECIMALS = "0x313ce567"  # decimals()
LATEST_ROUND_DATA = "0xfeaf968c"  # latestRoundData()


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


def check_analysis_request(
    *, rpc_url: str, rollback_block: int, reference_block: int, from_block: int, assets: Sequence[str]
) -> list[str]:
    """Validate blocks against the chain head and each asset as an ERC-20; returns the checksummed assets.

    Reads the chain, so it runs before any transaction opens.
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
    if from_block > rollback_block + 1:
        raise InvalidInput(f"from_block {from_block} is after the rollback block {rollback_block}", field="from_block")
    try:
        with RawRpc(rpc_url) as rpc:
            head = int(rpc.call("eth_blockNumber", []), 16)
            if reference_block > head:
                raise InvalidInput(
                    f"reference_block {reference_block} is past the chain head {head}", field="reference_block"
                )
            for token in tokens:
                check_erc20(rpc, token, reference_block)
    except NotAnErc20 as error:
        raise InvalidInput(str(error), field="assets") from None
    except ChainError as error:
        raise ChainUnavailable(f"the node at {rpc_url} failed: {error}") from None
    return tokens


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
            raise ChainUnavailable(f"the node at {rpc_url} failed: {error}") from None
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
) -> ImpactAnalysis:
    """Create a pending analysis after checking its request against the chain; the caller enqueues it.

    ``positions`` maps tracked tokens to a position reader (``chain.positions.READERS``), so
    the analysis also values those balances in the token's underlying asset.
    """
    incident = get_incident(incident_id)
    tokens = check_analysis_request(
        rpc_url=rpc_url,
        rollback_block=rollback_block,
        reference_block=reference_block,
        from_block=from_block,
        assets=list(assets) if assets else list(incident.affected_tokens),
    )
    feed = parse_address(price_feed, field="price_feed") if price_feed else ""
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
        )
        Incident.objects.filter(pk=incident.pk, status=IncidentStatus.OPEN).update(status=IncidentStatus.ANALYSING)
    return analysis


def lock_analysis(analysis_id: int) -> ImpactAnalysis:
    try:
        return ImpactAnalysis.objects.select_for_update().get(pk=analysis_id)
    except ImpactAnalysis.DoesNotExist:
        raise AnalysisNotFound(f"there is no impact analysis {analysis_id}", analysis=analysis_id) from None


@transaction.atomic
def cancel_impact(*, analysis_id: int) -> ImpactAnalysis:
    """Ask a running analysis to stop at its next checkpoint; a pending one stops at once."""
    analysis = lock_analysis(analysis_id)
    if analysis.status in (AnalysisStatus.COMPLETED, AnalysisStatus.CANCELLED):
        return analysis
    analysis.cancel_requested = True
    if analysis.status in (AnalysisStatus.PENDING, AnalysisStatus.FAILED):
        analysis.status = AnalysisStatus.CANCELLED
        analysis.finished_at = timezone.now()
    analysis.save(update_fields=["cancel_requested", "status", "finished_at"])
    return analysis


def compute_impact(
    *, analysis_id: int, rpc_url: str, chunk: int | None = None, checkpoint_seconds: float = CHECKPOINT_SECONDS
) -> ImpactAnalysis:
    """Run (or resume) the analysis to completion. Safe to call again after any failure.

    Chain errors propagate (the task retries on ``RpcUnavailable``) once the checkpoint of
    the last finished block range is saved; the result rows are written only at the end.
    """
    with transaction.atomic():
        analysis = lock_analysis(analysis_id)
        if analysis.status in (AnalysisStatus.COMPLETED, AnalysisStatus.CANCELLED):
            return analysis
        analysis.status = AnalysisStatus.RUNNING
        analysis.started_at = analysis.started_at or timezone.now()
        analysis.error = ""
        analysis.save(update_fields=["status", "started_at", "error"])

    replays = _load_replays(analysis)
    started = time.monotonic()
    rpc = RawRpc(rpc_url)
    try:
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
        price = _read_price(rpc, analysis)
        decimals = _token_decimals(rpc, analysis.tracked_assets, analysis.reference_block)
        results = {token: replay.result() for token, replay in replays.items()}
        cross_check = {
            token: _cross_check(rpc, token, results[token], analysis.rollback_block, analysis.reference_block)
            for token in results
        }
        positions = _read_positions(rpc, analysis, results)
    except Exception as error:
        # Whatever stopped the scan, the analysis must not stay "running": record it, keep the
        # checkpoint for a retry, and let the error propagate (the task retries node failures).
        _record_failure(analysis.pk, error)
        raise
    finally:
        rpc.close()
    return _store_impact(
        analysis.pk, results, positions=positions, price=price, decimals=decimals, cross_check=cross_check
    )


def _load_replays(analysis: ImpactAnalysis) -> dict[str, TwoBlockReplay]:
    saved = unpack(bytes(analysis.partial_state)) if analysis.partial_state else {}
    replays = {}
    for token in analysis.tracked_assets:
        key = token.lower()
        if key in saved:
            replays[key] = TwoBlockReplay.from_json(saved[key])
            continue
        snapshot = (
            BalanceSnapshot.objects.filter(
                chain_id=analysis.incident.chain_id,
                token=token,
                block__lte=analysis.rollback_block,
                block__gte=analysis.from_block - 1,
                from_block__lte=analysis.from_block,
            )
            .order_by("-block")
            .first()
        )
        replays[key] = TwoBlockReplay.start(
            token=token,
            rollback_block=analysis.rollback_block,
            reference_block=analysis.reference_block,
            from_block=snapshot.block + 1 if snapshot else analysis.from_block,
            start=unpack_balances(bytes(snapshot.balances)) if snapshot else None,
        )
    return replays


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
        row.save(update_fields=["partial_state", "blocks_done", "logs_done", "seconds_scanning"])
    return False


def _read_positions(
    rpc: RawRpc, analysis: ImpactAnalysis, results: dict[str, tuple[dict[str, int], dict[str, int]]]
) -> dict[str, tuple[str, dict[str, int], dict[str, int]]]:
    """For each token with a reader: (underlying, positions at the rollback block, at the reference block)."""
    positions = {}
    for token, name in analysis.position_readers.items():
        reader = READERS[name]
        before, after = results[token.lower()]
        positions[token] = (
            reader.underlying(rpc, token, analysis.reference_block),
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


def _mark_cancelled(analysis_id: int) -> ImpactAnalysis:
    with transaction.atomic():
        row = lock_analysis(analysis_id)
        row.status = AnalysisStatus.CANCELLED
        row.finished_at = timezone.now()
        row.save(update_fields=["status", "finished_at"])
    return row


def _record_failure(analysis_id: int, error: Exception) -> None:
    with transaction.atomic():
        row = lock_analysis(analysis_id)
        if row.status == AnalysisStatus.RUNNING:
            row.status = AnalysisStatus.FAILED
            row.error = f"{type(error).__name__}: {error}"
            row.save(update_fields=["status", "error"])


def _read_price(rpc: RawRpc, analysis: ImpactAnalysis) -> tuple[int, int] | None:
    """The feed's (answer, decimals) at the rollback block, or None without a feed."""
    if not analysis.price_feed:
        return None
    block = hex(analysis.rollback_block)
    replies = rpc.batch(
        [
            ("eth_call", [{"to": analysis.price_feed, "data": LATEST_ROUND_DATA}, block]),
            ("eth_call", [{"to": analysis.price_feed, "data": DECIMALS}, block]),
        ]
    )
    if any("result" not in reply for reply in replies):
        raise NotAnErc20(
            address=analysis.price_feed, block=analysis.rollback_block, reason="the price feed did not answer"
        )
    round_data = replies[0]["result"][2:]
    answer = int.from_bytes(bytes.fromhex(round_data[64:128]), "big", signed=True)
    return answer, int(replies[1]["result"], 16)


def _token_decimals(rpc: RawRpc, tokens: Sequence[str], block: int) -> dict[str, int]:
    """Each token's ``decimals()`` at ``block`` (0 when it has none: it is optional in ERC-20)."""
    replies = rpc.batch([("eth_call", [{"to": token, "data": DECIMALS}, hex(block)]) for token in tokens])
    return {
        token: int(reply["result"], 16) if reply.get("result") not in (None, "0x") else 0
        for token, reply in zip(tokens, replies, strict=True)
    }


def _store_impact(
    analysis_id: int,
    results: dict[str, tuple[dict[str, int], dict[str, int]]],
    *,
    positions: dict[str, tuple[str, dict[str, int], dict[str, int]]],
    price: tuple[int, int] | None,
    decimals: dict[str, int],
    cross_check: dict[str, int],
) -> ImpactAnalysis:
    """Write every account row, the snapshots and the summary in one transaction."""
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
        for token in analysis.tracked_assets:
            before, after = results[token.lower()]
            for block, balances in ((row.rollback_block, before), (row.reference_block, after)):
                BalanceSnapshot.objects.get_or_create(
                    chain_id=row.incident.chain_id,
                    token=token,
                    block=block,
                    defaults={
                        "from_block": row.from_block,
                        "account_count": len(balances),
                        "balances": pack_balances(balances),
                    },
                )
        row.status = AnalysisStatus.COMPLETED
        row.summary = {
            "assets": summaries,
            "positions": position_summaries,
            "decimals": decimals,
            "cross_checked_accounts": cross_check,
            "price": None if price is None else {"answer": str(price[0]), "decimals": price[1]},
        }
        row.partial_state = None
        row.finished_at = timezone.now()
        row.seconds_storing = time.monotonic() - started
        row.save()
    return row
