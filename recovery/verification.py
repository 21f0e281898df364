"""Did a plan pay what it says, to whom it says? Checked on chain, account by account.

The database says what a plan *should* pay (its allocations); the chain alone says what was
paid. For every asset of a plan this reads, at one pinned block:

- the plan's payments (``chain.payouts.plan_payments``: pushed Transfers and mints, credited
  refusals, pull claims), each with the transaction that made it;
- each paid recipient's token balance just before and just after each block that paid it,
  compared with every Transfer of the token to and from that account in that block, so
  other activity in the same block is accounted for and a token whose balances do not follow
  its own Transfer logs shows up;
- what is still owed (allocations not paid yet: batches not executed, pull claims closed),
  still claimable (credit left on the executor for a refused recipient, open pull claims),
  and anything paid that the plan does not contain (which must be nothing).

The verdict: ``mismatch`` when the chain contradicts the plan (a payment to an account or of
an amount the plan does not contain, a balance that did not move as logged, a batch whose
payments do not add up, an on-chain plan with another token or mode); otherwise
``incomplete`` while any allocation is not paid in full; otherwise ``complete``. A credited
allocation counts as paid: the plan paid it, the tokens wait on the executor for their owner.

The reads go out as JSON-RPC batches (``chain.payouts``, ``chain.balances.read_balances``),
the balance reads on a few threads, so ten thousand accounts take seconds.

A restore-positions plan pays no one: it re-creates margin accounts on a migrated market (the
plan asset's ``venue``). Its check is a read-back (``_verify_positions``): every committed row
against ``accountOf(account)`` on the venue at the pinned block (collateral, debt, size, entry
price, margin) and the funding it owed carried over (the venue's ``fundingIndex`` at the block
that restored it minus the account's ``entryFunding`` equals the row's ``funding_debt``). Each
account is ``ok``, ``mismatch`` (with the fields that differ) or ``not_restored`` (its batch has
not run); the batches come from the executor's ``BatchExecuted`` logs, whose account count and
asset total must be the batch's.
"""

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from chain.balances import read_balances
from chain.errors import ChainError
from chain.logs import RawRpc, scan_raw_logs
from chain.margin import MarginAccount, RestoreRow, signed_word
from chain.payouts import (
    CLAIMED,
    CREDITED,
    PUSHED,
    BlockRef,
    Payment,
    PayoutMismatch,
    credits_outstanding,
    pin_block,
    plan_payments,
    token_deltas_in_blocks,
)
from chain.redaction import redact, redact_url
from config.errors import LifeboatError
from recovery.exceptions import ChainMismatch, ChainUnavailable, PlanAssetNotFound, PlanNotFound
from recovery.models import Allocation, DeployedContract, MigrationBatch, PlanAsset, PlanMode, RecoveryPlan
from recovery.positions_plan import row_from_json
from recovery.validation import parse_address

COMPLETE, INCOMPLETE, MISMATCH = "complete", "incomplete", "mismatch"
_VERDICT_ORDER = {COMPLETE: 0, INCOMPLETE: 1, MISMATCH: 2}
DELIVERIES = {0: "push", 1: "push_fallback", 2: "pull"}
MODES = {0: PlanMode.RESTITUTE.value, 1: PlanMode.RESTORE.value, 2: PlanMode.RESTORE_POSITIONS.value}
ONCHAIN_STATUSES = {0: "not_approved", 1: "approved", 2: "revoked", 3: "closed"}
# Balance reads run on this many threads, each with its own connection and JSON-RPC batches.
BALANCE_THREADS = 4
TOTAL_FIELDS = ("allocated", "paid", "pushed", "credited", "claimed", "owed", "claimable")
_GET_PLAN = "0x" + keccak(text="getPlan(uint256)")[:4].hex()
_CURRENT_VERSION = "0x" + keccak(text="currentVersion(bytes32)")[:4].hex()
_ACCOUNT_OF = "0x" + keccak(text="accountOf(address)")[:4].hex()
_FUNDING_INDEX = "0x" + keccak(text="fundingIndex()")[:4].hex()
_BATCH_EXECUTED = "0x" + keccak(text="BatchExecuted(uint256,uint256,uint256,uint256)").hex()
# The fields a restored position is compared on, in ``RestoreRow`` order after the account.
POSITION_FIELDS = ("collateral", "debt", "size", "entry_price", "margin", "funding_debt")
# accountOf reads per JSON-RPC batch.
POSITION_READS_PER_BATCH = 500
OK, NOT_RESTORED = "ok", "not_restored"
# RecoveryExecutor.Plan: root, token, mode, delivery, status, batchCount, incidentKey, version,
# claimDeadline, budget, paid.
_PLAN_TUPLE = "(bytes32,address,uint8,uint8,uint8,uint32,bytes32,uint64,uint64,uint256,uint256)"


class ExecutorUnknown(LifeboatError):
    """Neither the plan nor a recorded deployment names the RecoveryExecutor to read."""

    code = "recovery_executor_unknown"
    status = 409


@dataclass
class AccountVerification:
    """One allocation (or one unexpected recipient) against what the chain paid it."""

    account: str
    allocated: int
    paid: int = 0
    pushed: int = 0
    credited: int = 0
    claimed: int = 0
    owed: int = 0
    claimable: int = 0
    batch_index: int | None = None
    transactions: list[str] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    # Across the blocks that pushed or claimed to it: balance after minus before, the net of
    # the token's Transfer logs for it in those blocks, and what of that was not this plan.
    balance_change: int | None = None
    logged_change: int | None = None
    other_activity: int | None = None
    status: str = "owed"

    @property
    def balance_ok(self) -> bool | None:
        if self.balance_change is None:
            return None
        return self.balance_change == self.logged_change


@dataclass
class PositionVerification:
    """One committed row of a restore-positions plan against the account read back from the venue.

    ``expected`` is the row; ``actual`` the venue's ``accountOf`` at the pinned block, its
    ``funding_debt`` being the venue's funding index at the restoring block minus the account's
    ``entryFunding`` (None before the batch ran). ``differs`` names the fields that do not match.
    """

    account: str
    batch_index: int
    expected: RestoreRow
    actual: dict[str, int] | None = None
    differs: list[str] = field(default_factory=list)
    transaction: str = ""
    block: int | None = None
    status: str = NOT_RESTORED


@dataclass
class AssetVerification:
    asset: str
    payout_token: str
    onchain_plan_id: int | None
    mode: str | None = None
    delivery: str | None = None
    onchain_status: str = "not_approved"
    batches_total: int = 0
    batches_executed: list[int] = field(default_factory=list)
    accounts: list[AccountVerification] = field(default_factory=list)
    unexpected: list[AccountVerification] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    verdict: str = INCOMPLETE
    # A restore-positions plan: the migrated market and each committed row read back from it.
    venue: str = ""
    positions: list[PositionVerification] = field(default_factory=list)


@dataclass
class VerificationReport:
    plan_id: int
    incident_id: int
    version: int
    chain_id: int
    recovery_executor: str
    block: BlockRef
    assets: list[AssetVerification]
    totals: dict[str, int]
    verdict: str
    generated_at: str
    seconds: float


def verify_plan(plan_id: int, *, asset: str | None = None, rpc_url: str | None = None) -> VerificationReport:
    """Check every asset of plan ``plan_id`` (or only ``asset``) on chain, at the head; see the module's docstring."""
    started = time.monotonic()
    try:
        plan = RecoveryPlan.objects.select_related("incident", "analysis").get(pk=plan_id)
    except RecoveryPlan.DoesNotExist:
        raise PlanNotFound(f"there is no recovery plan {plan_id}", plan=plan_id) from None
    url = rpc_url or settings.CHAIN_RPC_URL
    plan_assets = list(PlanAsset.objects.filter(plan=plan).order_by("pk").defer("allocation_dump", "allocation_nodes"))
    if asset is not None:
        wanted = parse_address(asset, field="asset")
        plan_assets = [row for row in plan_assets if to_checksum_address(row.asset) == wanted]
        if not plan_assets:
            raise PlanAssetNotFound(f"plan {plan_id} has no asset {wanted}", plan=plan_id, asset=wanted)
    try:
        with RawRpc(url) as rpc:
            chain_id = int(rpc.call("eth_chainId", []), 16)
            if chain_id != plan.incident.chain_id:
                raise ChainMismatch(
                    f"plan {plan_id} is for chain {plan.incident.chain_id}, but the node at {redact_url(url)} serves "
                    f"chain {chain_id}: point CHAIN_RPC_URL (or --rpc-url) at a node of chain {plan.incident.chain_id}",
                    expected=plan.incident.chain_id,
                    actual=chain_id,
                )
            executor, executor_block = _recovery_executor(plan, chain_id)
            block = pin_block(rpc)
            from_block = max(plan.analysis.reference_block, executor_block or 0)
            assets = [
                _verify_asset(rpc, url, plan, row, executor=executor, block=block, from_block=from_block)
                for row in plan_assets
            ]
    except ChainError as error:
        raise ChainUnavailable(
            redact(f"cannot verify plan {plan_id}: {type(error).__name__}: {error}", secrets=[url])
        ) from None
    totals = {name: sum(item.totals.get(name, 0) for item in assets) for name in TOTAL_FIELDS}
    verdict = max((item.verdict for item in assets), key=_VERDICT_ORDER.__getitem__, default=COMPLETE)
    return VerificationReport(
        plan_id=plan.pk,
        incident_id=plan.incident_id,
        version=plan.version,
        chain_id=chain_id,
        recovery_executor=executor,
        block=block,
        assets=assets,
        totals=totals,
        verdict=verdict,
        generated_at=timezone.now().isoformat(),
        seconds=round(time.monotonic() - started, 3),
    )


def _recovery_executor(plan: RecoveryPlan, chain_id: int) -> tuple[str, int | None]:
    """The executor the plan was committed to, else the newest recorded deployment's (with its block)."""
    configured = getattr(plan, "recovery_executor", "")
    if configured:
        return to_checksum_address(configured), None
    contract = (
        DeployedContract.objects.filter(deployment__chain_id=chain_id, role="recovery_executor")
        .order_by("-deployment__created_at", "-deployment__pk")
        .first()
    )
    if contract is None:
        raise ExecutorUnknown(
            f"plan {plan.pk} names no RecoveryExecutor and no deployment on chain {chain_id} records one: "
            "record the deployment (`manage.py devchain` or the deployment API) or rebuild the plan",
            plan=plan.pk,
        )
    return to_checksum_address(contract.address), contract.block


def _verify_asset(
    rpc: RawRpc,
    url: str,
    plan: RecoveryPlan,
    row: PlanAsset,
    *,
    executor: str,
    block: BlockRef,
    from_block: int,
) -> AssetVerification:
    plan_id = int(row.onchain_plan_id) if row.onchain_plan_id is not None else None
    result = AssetVerification(
        asset=to_checksum_address(row.asset),
        payout_token=to_checksum_address(row.payout_token),
        onchain_plan_id=plan_id,
    )
    if plan.mode == PlanMode.RESTORE_POSITIONS:
        return _verify_positions(rpc, plan, row, result, executor=executor, block=block, from_block=from_block)
    allocations = list(
        Allocation.objects.filter(plan_asset=row).values_list("account", "amount", "batch_index", "leaf_index")
    )
    lines = {
        to_checksum_address(account): AccountVerification(to_checksum_address(account), int(amount), batch_index=index)
        for account, amount, index, _ in allocations
    }
    result.batches_total = row.batches.count()
    onchain = _onchain_plan(rpc, executor, plan_id, block) if plan_id is not None else None
    payments: list[Payment] = []
    claims_open = False
    if onchain is not None and onchain["status"] != "not_approved":
        result.onchain_status = onchain["status"]
        result.mode, result.delivery = onchain["mode"], onchain["delivery"]
        if onchain["token"] != result.payout_token:
            result.problems.append(
                f"on chain, plan {plan_id} pays {onchain['token']}, "
                f"but the plan's payout token is {result.payout_token}"
            )
        if onchain["mode"] != plan.mode:
            result.problems.append(f"on chain, plan {plan_id} is in {onchain['mode']} mode, the plan in {plan.mode}")
        if onchain["delivery"] == "pull":
            result.batches_total = 0
            claims_open = (
                onchain["status"] == "approved"
                and not onchain["superseded"]
                and onchain["timestamp"] <= onchain["claim_deadline"]
            )
        try:
            payments = plan_payments(
                rpc,
                recovery_executor=executor,
                plan_ids=[plan_id],  # type: ignore[list-item]
                token=onchain["token"],
                mode=onchain["mode_number"],
                from_block=from_block,
                to_block=block.number,
            )
        except PayoutMismatch as error:
            result.problems.append(str(error))
    _apply_payments(result, lines, payments)
    _check_balances(url, result, lines, payments, token=result.payout_token, executor=executor, block=block)
    credited = [line.account for line in (*lines.values(), *result.unexpected) if line.credited]
    outstanding = (
        credits_outstanding(rpc, executor, result.payout_token, credited, block=block.number) if credited else {}
    )
    _finish(result, lines, claims_open=claims_open, outstanding=outstanding)
    return result


def _onchain_plan(rpc: RawRpc, executor: str, plan_id: int, block: BlockRef) -> dict[str, Any]:
    """``getPlan`` and what decides whether its claims are still open, at ``block``."""
    at = {"blockHash": block.hash, "requireCanonical": True}
    data = _GET_PLAN + encode(["uint256"], [plan_id]).hex()
    reply = rpc.call("eth_call", [{"to": executor, "data": data}, at])
    try:
        (plan,) = decode([_PLAN_TUPLE], bytes.fromhex(reply[2:]))
    except (DecodingError, ValueError, TypeError) as error:
        raise ExecutorUnknown(
            f"{executor} does not answer getPlan({plan_id}) as a RecoveryExecutor does ({error}): "
            "check the plan's recovery_executor",
            recovery_executor=executor,
        ) from None
    _root, token, mode, delivery, status, _count, key, version, deadline, _budget, _paid = plan
    reply = rpc.call("eth_call", [{"to": executor, "data": _CURRENT_VERSION + key.hex()}, at])
    header = rpc.call("eth_getBlockByHash", [block.hash, False])
    return {
        "token": to_checksum_address(token),
        "mode": MODES.get(mode, str(mode)),
        "mode_number": mode,
        "delivery": DELIVERIES.get(delivery, str(delivery)),
        "status": ONCHAIN_STATUSES.get(status, str(status)),
        "superseded": version != int(reply, 16),
        "claim_deadline": deadline,
        "timestamp": int(header["timestamp"], 16),
    }


def _verify_positions(
    rpc: RawRpc,
    plan: RecoveryPlan,
    row: PlanAsset,
    result: AssetVerification,
    *,
    executor: str,
    block: BlockRef,
    from_block: int,
) -> AssetVerification:
    """A restore-positions plan asset: every committed row read back from the venue (see the module's docstring)."""
    plan_id = result.onchain_plan_id
    result.venue = to_checksum_address(row.venue) if row.venue else ""
    stored = list(
        MigrationBatch.objects.filter(plan_asset=row).order_by("index").values_list("index", "positions", "total")
    )
    rows = {index: [row_from_json(raw) for raw in positions or ()] for index, positions, _ in stored}
    totals = {index: int(total) for index, _, total in stored}
    result.batches_total = len(stored)
    executed: dict[int, dict[str, Any]] = {}
    onchain = _onchain_plan(rpc, executor, plan_id, block) if plan_id is not None else None
    if onchain is not None and onchain["status"] != "not_approved":
        result.onchain_status = onchain["status"]
        result.mode, result.delivery = onchain["mode"], onchain["delivery"]
        if onchain["token"] != result.payout_token:
            result.problems.append(
                f"on chain, plan {plan_id} pays {onchain['token']}, but the plan's asset is {result.payout_token}"
            )
        if onchain["mode"] != plan.mode:
            result.problems.append(f"on chain, plan {plan_id} is in {onchain['mode']} mode, the plan in {plan.mode}")
        executed = _batches_executed(rpc, executor, plan_id, from_block, block.number, result)  # type: ignore[arg-type]
    if not result.venue:
        result.problems.append(f"plan asset {result.asset} names no venue: there is no market to read positions from")
    for index, log in sorted(executed.items()):
        if index not in rows:
            result.problems.append(f"batch {index} ran on chain ({log['tx_hash']}) but the plan has no batch {index}")
        elif (log["count"], log["total"]) != (len(rows[index]), totals[index]):
            result.problems.append(
                f"batch {index} restored {log['count']} accounts for {log['total']} on chain ({log['tx_hash']}); "
                f"the plan's batch {index} has {len(rows[index])} accounts for {totals[index]}"
            )
    lines = [PositionVerification(r.account, index, r) for index, batch in rows.items() for r in batch]
    read_back = [line for line in lines if line.batch_index in executed]
    if read_back and result.venue:
        accounts = _accounts_at(rpc, result.venue, [line.account for line in read_back], block)
        restoring = sorted({executed[line.batch_index]["block"] for line in read_back})
        indexes = _funding_indexes(rpc, result.venue, restoring)
        for line in read_back:
            log = executed[line.batch_index]
            line.transaction, line.block = log["tx_hash"], log["block"]
            account = accounts.get(line.account)
            if account is None:
                line.status, line.differs = MISMATCH, ["unreadable"]
                result.problems.append(f"the venue {result.venue} answers no accountOf({line.account})")
                continue
            line.actual = {
                "collateral": account.collateral,
                "debt": account.debt,
                "size": account.size,
                "entry_price": account.entry_price,
                "margin": account.margin,
                "funding_debt": indexes[log["block"]] - account.entry_funding,
            }
            expected = dict(zip(POSITION_FIELDS, line.expected.as_tuple()[1:], strict=True))
            line.differs = [name for name in POSITION_FIELDS if line.actual[name] != expected[name]]
            line.status = MISMATCH if line.differs else OK
            if line.differs:
                result.problems.append(
                    f"{line.account} on the venue {result.venue} differs from its restored row (batch "
                    f"{line.batch_index}): "
                    + ", ".join(f"{name} {line.actual[name]} (the plan: {expected[name]})" for name in line.differs)
                )
    result.positions = sorted(lines, key=lambda line: line.account.lower())
    result.batches_executed = sorted(index for index in executed if index in rows)
    allocated = sum(line.expected.asset_needed for line in lines)
    paid = sum(log["total"] for index, log in executed.items() if index in rows)
    owed = sum(line.expected.asset_needed for line in lines if line.batch_index not in executed)
    result.totals = dict.fromkeys(TOTAL_FIELDS, 0)
    result.totals.update(allocated=allocated, paid=paid, pushed=paid, owed=owed)
    if result.problems:
        result.verdict = MISMATCH
    elif any(line.status == NOT_RESTORED for line in lines):
        result.verdict = INCOMPLETE
    else:
        result.verdict = COMPLETE
    return result


def _batches_executed(
    rpc: RawRpc, executor: str, plan_id: int, from_block: int, to_block: int, result: AssetVerification
) -> dict[int, dict[str, Any]]:
    """The plan's ``BatchExecuted`` logs up to ``to_block`` by batch index: transaction, block, account count, total."""
    word = "0x" + plan_id.to_bytes(32, "big").hex()
    found: dict[int, dict[str, Any]] = {}
    for page in scan_raw_logs(rpc, executor, [_BATCH_EXECUTED], from_block, to_block, prefetch=False):
        for log in page.logs:
            topics = [topic.lower() for topic in log["topics"]]
            if len(topics) != 3 or topics[1] != word:
                continue
            index = int(topics[2], 16)
            data = bytes.fromhex(log["data"][2:])
            entry = {
                "tx_hash": log["transactionHash"].lower(),
                "block": int(log["blockNumber"], 16),
                "count": int.from_bytes(data[:32], "big"),
                "total": int.from_bytes(data[32:64], "big"),
            }
            if index in found:
                result.problems.append(
                    f"batch {index} ran twice on chain ({found[index]['tx_hash']} and {entry['tx_hash']})"
                )
            found.setdefault(index, entry)
    return found


def _accounts_at(rpc: RawRpc, venue: str, accounts: Sequence[str], block: BlockRef) -> dict[str, MarginAccount]:
    """``accountOf`` of each account on ``venue`` at ``block``, in JSON-RPC batches; an unanswered read is left out."""
    at = {"blockHash": block.hash, "requireCanonical": True}
    found: dict[str, MarginAccount] = {}
    for start in range(0, len(accounts), POSITION_READS_PER_BATCH):
        chunk = accounts[start : start + POSITION_READS_PER_BATCH]
        replies = rpc.batch(
            [("eth_call", [{"to": venue, "data": _ACCOUNT_OF + encode(["address"], [a]).hex()}, at]) for a in chunk]
        )
        for account, reply in zip(chunk, replies, strict=True):
            answer = reply.get("result")
            if reply.get("error") is None and isinstance(answer, str) and len(answer) >= 2 + 64 * 6:
                found[account] = MarginAccount.from_words(bytes.fromhex(answer[2:]))
    return found


def _funding_indexes(rpc: RawRpc, venue: str, blocks: Sequence[int]) -> dict[int, int]:
    """The venue's ``fundingIndex`` after each of ``blocks``: what a restore in that block measured funding from.

    Read after the block: funding accrued on the venue later in the same block as a restore would
    show as a difference (the demo and any sane operator do not accrue in the restoring block).
    """
    replies = rpc.batch([("eth_call", [{"to": venue, "data": _FUNDING_INDEX}, hex(number)]) for number in blocks])
    indexes = {}
    for number, reply in zip(blocks, replies, strict=True):
        answer = reply.get("result")
        if reply.get("error") is not None or not isinstance(answer, str) or len(answer) != 66:
            raise ExecutorUnknown(
                f"the venue {venue} answers no fundingIndex() at block {number}: it is no margin market",
                venue=venue,
            )
        indexes[number] = signed_word(int(answer, 16))
    return indexes


def _apply_payments(
    result: AssetVerification, lines: dict[str, AccountVerification], payments: Sequence[Payment]
) -> None:
    executed: set[int] = set()
    for payment in payments:
        line = lines.get(payment.account)
        if line is None:
            line = next((item for item in result.unexpected if item.account == payment.account), None)
            if line is None:
                line = AccountVerification(payment.account, 0, status="unexpected")
                result.unexpected.append(line)
        line.paid += payment.amount
        if payment.kind == PUSHED:
            line.pushed += payment.amount
        elif payment.kind == CREDITED:
            line.credited += payment.amount
        elif payment.kind == CLAIMED:
            line.claimed += payment.amount
        if payment.tx_hash not in line.transactions:
            line.transactions.append(payment.tx_hash)
        if payment.block_number not in line.blocks:
            line.blocks.append(payment.block_number)
        if payment.batch_index is not None:
            executed.add(payment.batch_index)
    result.batches_executed = sorted(executed)


def _check_balances(
    url: str,
    result: AssetVerification,
    lines: dict[str, AccountVerification],
    payments: Sequence[Payment],
    *,
    token: str,
    executor: str,
    block: BlockRef,
) -> None:
    """Balance before and after each block that moved tokens to an account, against that block's Transfers."""
    received: dict[tuple[int, str], int] = defaultdict(int)
    hashes: dict[int, str] = {}
    for payment in payments:
        if payment.kind in (PUSHED, CLAIMED) and payment.account != executor:
            received[(payment.block_number, payment.account)] += payment.amount
            hashes[payment.block_number] = payment.block_hash
    if not received:
        return
    by_block: dict[int, list[str]] = defaultdict(list)
    for number, account in received:
        by_block[number].append(account)
    # (block read, accounts, paying block, which side): before at the block's parent, after at the block.
    reads = [(number - side, accounts, number, side) for number, accounts in by_block.items() for side in (1, 0)]
    with ThreadPoolExecutor(max_workers=BALANCE_THREADS) as pool:
        answers = list(pool.map(lambda item: _balances(url, token, item[1], item[0]), reads))
    balances = {(number, side): answer for (_, _, number, side), answer in zip(reads, answers, strict=True)}
    deltas = token_deltas_in_blocks(url, token, hashes.values())
    everyone = {**lines, **{item.account: item for item in result.unexpected}}
    for (number, account), amount in received.items():
        line = everyone[account]
        key = account.lower()
        change = balances[(number, 0)][key] - balances[(number, 1)][key]
        logged = deltas.get((hashes[number], account), 0)
        line.balance_change = (line.balance_change or 0) + change
        line.logged_change = (line.logged_change or 0) + logged
        line.other_activity = (line.other_activity or 0) + logged - amount


def _balances(url: str, token: str, accounts: Iterable[str], number: int) -> dict[str, int]:
    with RawRpc(url) as rpc:
        return read_balances(rpc, token, accounts, number)


def _finish(
    result: AssetVerification,
    lines: dict[str, AccountVerification],
    *,
    claims_open: bool,
    outstanding: dict[str, int],
) -> None:
    """Owed, claimable, each account's status, the totals and the verdict of one asset.

    ``outstanding`` is the executor's ``credited(token, account)`` at the pinned block: per
    token and account, so an account credited by several plans shows at most this plan's part.
    """
    token = result.payout_token
    for line in lines.values():
        missing = max(line.allocated - line.paid, 0)
        if result.delivery == "pull" and claims_open:
            line.claimable += missing
        else:
            line.owed = missing
        if line.credited:
            line.claimable += min(outstanding.get(line.account, 0), line.credited)
        if line.paid > line.allocated:
            line.status = "overpaid"
            result.problems.append(f"{line.account} was paid {line.paid} of {token}, more than its {line.allocated}")
        elif line.balance_ok is False:
            line.status = "balance_mismatch"
            result.problems.append(
                f"{line.account}'s balance of {token} changed by {line.balance_change} in the paying blocks, but the "
                f"token's Transfer logs say {line.logged_change}"
            )
        elif missing:
            line.status = "claimable" if result.delivery == "pull" and claims_open else "owed"
        elif line.credited and line.claimable:
            line.status = "credited"
        else:
            line.status = "paid"
    for line in result.unexpected:
        result.problems.append(f"{line.account} was paid {line.paid} of {token}, but the plan allocates it nothing")
    result.accounts = sorted(lines.values(), key=lambda line: line.account.lower())
    result.unexpected.sort(key=lambda line: line.account.lower())
    everyone = result.accounts + result.unexpected
    result.totals = {name: sum(getattr(line, name) for line in everyone) for name in TOTAL_FIELDS}
    if result.problems:
        result.verdict = MISMATCH
    elif any(line.paid < line.allocated for line in result.accounts):
        result.verdict = INCOMPLETE
    else:
        result.verdict = COMPLETE


def report_json(report: VerificationReport) -> dict[str, Any]:
    """The report as JSON-ready data; amounts are decimal strings."""
    return {
        "plan_id": report.plan_id,
        "incident_id": report.incident_id,
        "version": report.version,
        "chain_id": report.chain_id,
        "recovery_executor": report.recovery_executor,
        "block": {"number": report.block.number, "hash": report.block.hash},
        "verdict": report.verdict,
        "totals": _amounts(report.totals),
        "generated_at": report.generated_at,
        "seconds": report.seconds,
        "assets": [_asset_json(item) for item in report.assets],
    }


def _amounts(values: dict[str, int]) -> dict[str, str]:
    return {name: str(value) for name, value in values.items()}


def _asset_json(item: AssetVerification) -> dict[str, Any]:
    return {
        "asset": item.asset,
        "payout_token": item.payout_token,
        "onchain_plan_id": None if item.onchain_plan_id is None else str(item.onchain_plan_id),
        "mode": item.mode,
        "delivery": item.delivery,
        "onchain_status": item.onchain_status,
        "batches_total": item.batches_total,
        "batches_executed": item.batches_executed,
        "verdict": item.verdict,
        "totals": _amounts(item.totals),
        "problems": item.problems,
        "accounts": [_account_json(line) for line in item.accounts],
        "unexpected": [_account_json(line) for line in item.unexpected],
        "venue": item.venue or None,
        "positions": [_position_json(line) for line in item.positions],
    }


def _position_json(line: PositionVerification) -> dict[str, Any]:
    expected = dict(zip(POSITION_FIELDS, line.expected.as_tuple()[1:], strict=True))
    return {
        "account": line.account,
        "status": line.status,
        "batch_index": line.batch_index,
        "expected": _amounts(expected),
        "actual": None if line.actual is None else _amounts(line.actual),
        "differs": line.differs,
        "transaction": line.transaction or None,
        "block": line.block,
    }


def _account_json(line: AccountVerification) -> dict[str, Any]:
    def text(value: int | None) -> str | None:
        return None if value is None else str(value)

    return {
        "account": line.account,
        "status": line.status,
        "allocated": str(line.allocated),
        "paid": str(line.paid),
        "pushed": str(line.pushed),
        "credited": str(line.credited),
        "claimed": str(line.claimed),
        "owed": str(line.owed),
        "claimable": str(line.claimable),
        "batch_index": line.batch_index,
        "transactions": line.transactions,
        "blocks": line.blocks,
        "balance_change": text(line.balance_change),
        "logged_change": text(line.logged_change),
        "other_activity": text(line.other_activity),
        "balance_ok": line.balance_ok,
    }


def report_markdown(report: VerificationReport) -> str:
    """The report as a Markdown document: a summary per asset, then one table row per account, sorted."""
    out = [
        f"# Verification of plan {report.plan_id} (incident {report.incident_id}, version {report.version})",
        "",
        f"- **Verdict: {report.verdict}**",
        f"- Chain {report.chain_id}, read at block {report.block.number} (`{report.block.hash}`)",
        f"- RecoveryExecutor `{report.recovery_executor}`",
        f"- Generated {report.generated_at} in {report.seconds:.2f} s",
        "",
        "| Asset | Verdict | Allocated | Paid | Pushed | Credited | Claimed | Owed | Claimable |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for item in report.assets:
        t = item.totals
        out.append(
            f"| `{item.asset}` | {item.verdict} | " + " | ".join(str(t.get(name, 0)) for name in TOTAL_FIELDS) + " |"
        )
    t = report.totals
    out.append("| **All** | **" + report.verdict + "** | " + " | ".join(str(t[n]) for n in TOTAL_FIELDS) + " |")
    for item in report.assets:
        out += [
            "",
            f"## `{item.asset}`",
            "",
            f"- Payout token `{item.payout_token}`, on-chain plan id {item.onchain_plan_id}: {item.onchain_status}"
            + (f", {item.mode}, {item.delivery}" if item.mode else ""),
            f"- Batches executed: {len(item.batches_executed)} of {item.batches_total}",
            f"- Verdict: **{item.verdict}**",
        ]
        if item.problems:
            out += ["", "### Problems", ""] + [f"- {problem}" for problem in item.problems]
        if item.venue or item.positions:
            out += _positions_markdown(item)
            continue
        out += [
            "",
            "| Account | Status | Allocated | Paid | How | Transactions "
            "| Balance change | Other activity | Owed | Claimable |",
            "|---|---|--:|--:|---|---|--:|--:|--:|--:|",
        ]
        for line in item.accounts + item.unexpected:
            how = ", ".join(
                f"{kind} {getattr(line, kind)}" for kind in ("pushed", "credited", "claimed") if getattr(line, kind)
            )
            out.append(
                f"| `{line.account}` | {line.status} | {line.allocated} | {line.paid} | {how or '-'} | "
                f"{' '.join(f'`{tx}`' for tx in line.transactions) or '-'} | "
                f"{'-' if line.balance_change is None else line.balance_change} | "
                f"{'-' if line.other_activity is None else line.other_activity} | {line.owed} | {line.claimable} |"
            )
    return "\n".join(out) + "\n"


def _positions_markdown(item: AssetVerification) -> list[str]:
    """A restore-positions asset: one row per restored account, a differing field as ``actual (plan: expected)``."""
    out = [
        "",
        f"Positions restored on the venue `{item.venue}`: "
        f"{sum(1 for line in item.positions if line.status == OK)} of {len(item.positions)} read back as committed.",
        "",
        "| Account | Status | Batch | Collateral | Debt | Size | Entry price | Margin | Funding debt | Transaction |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for line in item.positions:
        expected = dict(zip(POSITION_FIELDS, line.expected.as_tuple()[1:], strict=True))
        cells = [
            f"{line.actual[name]} (plan: {expected[name]})"
            if line.actual is not None and name in line.differs
            else str(expected[name])
            for name in POSITION_FIELDS
        ]
        out.append(
            f"| `{line.account}` | {line.status} | {line.batch_index} | "
            + " | ".join(cells)
            + f" | {f'`{line.transaction}`' if line.transaction else '-'} |"
        )
    return out
