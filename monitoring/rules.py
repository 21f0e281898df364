"""What each kind of rule checks: its parameters, the reads it needs, and the verdict on them.

Each kind has three parts:
- its parameters, checked by ``validate_params`` (the admin, the API, ``monitor watch-demo``),
  which answers ``InvalidRuleParams`` naming the field and what would be right;
- a pure check (``check_stale``, ``check_drain``, ...) from the values read to an ``Outcome``:
  healthy, or failing with a stable ``cause`` key (one incident per cause), a message for
  people, the watched ``value`` (for the chart) and every value read (integers as decimal
  strings);
- ``observe``, which reads what the check needs through ``chain/watch.py`` and calls it.

When each kind is evaluated (``WHEN``):
- *per block*: the oracle rules, solvency and drain are read at every block of the range a run
  covers (``eth_call`` at the block's number), so a monitor that was down checks each block it
  missed and fires at the block that broke the rule;
- *range end*: supply is checked at the last block of the range (a supply mismatch persists, and
  replaying the logs once per run is enough);
- *head*: block stall (wall clock since the head last advanced) and RPC reachability describe
  the node now, not a block.

Integers only: basis points are computed with ``//`` on exact integers, never floats.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eth_utils import is_address, to_checksum_address

from chain.balances import balances_at
from chain.blocks import BlockMissing
from chain.errors import NegativeBalance
from chain.logs import RawRpc
from chain.replay import unpack_balances
from chain.watch import (
    BlockHeader,
    CallFailed,
    RoundData,
    VaultTotals,
    balances_at_blocks,
    block_headers,
    feed_decimals,
    latest_rounds,
    outflows_by_block,
    rounds,
    total_supply_at,
    vault_totals,
)
from monitoring.exceptions import InvalidRuleParams
from monitoring.models import RuleKind
from recovery.models import BalanceSnapshot

PER_BLOCK, RANGE_END, HEAD = "per_block", "range_end", "head"
WHEN = {
    RuleKind.ORACLE_STALE: PER_BLOCK,
    RuleKind.ORACLE_ANSWER: PER_BLOCK,
    RuleKind.ORACLE_JUMP: PER_BLOCK,
    RuleKind.ORACLE_DEVIATION: PER_BLOCK,
    RuleKind.SOLVENCY: PER_BLOCK,
    RuleKind.DRAIN: PER_BLOCK,
    RuleKind.SUPPLY: RANGE_END,
    RuleKind.BLOCK_STALL: HEAD,
    RuleKind.RPC_UNREACHABLE: HEAD,
}
# What ``Observation.value`` measures, per kind (``Rule.metric``).
METRICS = {
    RuleKind.ORACLE_STALE: "age of the feed's answer, seconds",
    RuleKind.ORACLE_ANSWER: "the feed's answer, in its decimals",
    RuleKind.ORACLE_JUMP: "change from the previous round, basis points",
    RuleKind.ORACLE_DEVIATION: "deviation from the reference feed, basis points",
    RuleKind.BLOCK_STALL: "seconds since the head last advanced",
    RuleKind.RPC_UNREACHABLE: "",
    RuleKind.SOLVENCY: "assets minus liabilities, base units",
    RuleKind.SUPPLY: "totalSupply minus the sum of balances, base units",
    RuleKind.DRAIN: "outflow in the window, basis points of the holdings at its start",
}
MAX_BPS = 1_000_000  # 10,000%: a jump or deviation threshold above 100% is allowed, not an absurd one
MAX_WINDOW_BLOCKS = 10_000
LIABILITIES = ("convert_to_assets", "par")


# --- parameters ---


@dataclass(frozen=True, slots=True)
class Param:
    kind: str  # "address", "int", "choice"
    required: bool = True
    default: Any = None
    low: int = 0
    high: int = 2**256 - 1
    choices: tuple[str, ...] = ()
    help: str = ""


_FEED = Param("address", help="the Chainlink-style feed's address")
PARAMS: dict[str, dict[str, Param]] = {
    RuleKind.ORACLE_STALE: {
        "feed": _FEED,
        "heartbeat_seconds": Param("int", low=1, high=10**9, help="the feed's heartbeat (its longest quiet time)"),
        "grace_seconds": Param("int", required=False, default=0, high=10**9, help="tolerance past the heartbeat"),
    },
    RuleKind.ORACLE_ANSWER: {"feed": _FEED},
    RuleKind.ORACLE_JUMP: {
        "feed": _FEED,
        "max_jump_bps": Param("int", low=1, high=MAX_BPS, help="largest change between rounds, basis points"),
    },
    RuleKind.ORACLE_DEVIATION: {
        "feed": _FEED,
        "reference_feed": Param("address", help="the second source for the same pair"),
        "max_deviation_bps": Param("int", low=1, high=MAX_BPS, help="largest gap to the reference, basis points"),
    },
    RuleKind.BLOCK_STALL: {
        "stall_seconds": Param("int", low=1, high=10**7, help="seconds without a new block before it fails"),
    },
    RuleKind.RPC_UNREACHABLE: {},
    RuleKind.SOLVENCY: {
        "vault": Param("address", help="the vault whose assets must cover its liabilities"),
        "liabilities": Param(
            "choice",
            required=False,
            default="convert_to_assets",
            choices=LIABILITIES,
            help="convert_to_assets: the vault's own price of all shares; par: shares at a fixed price",
        ),
        "par_assets": Param("int", required=False, default=1, low=1, help="with par: assets owed per par_shares"),
        "par_shares": Param("int", required=False, default=1, low=1, help="with par: shares per par_assets"),
        "max_shortfall": Param("int", required=False, default=0, help="tolerated shortfall, base units"),
    },
    RuleKind.SUPPLY: {
        "token": Param("address", help="the ERC-20 token whose supply is checked"),
        "from_block": Param("int", required=False, default=0, help="the token's deployment block (replay start)"),
    },
    RuleKind.DRAIN: {
        "contract": Param("address", help="the contract whose holdings are watched (the vault)"),
        "asset": Param("address", help="the token leaving it"),
        "window_blocks": Param("int", low=1, high=MAX_WINDOW_BLOCKS, help="blocks in the sliding window"),
        "max_outflow_bps": Param("int", low=1, high=10_000, help="largest outflow in the window, basis points"),
    },
}


def validate_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked for ``kind`` and normalised: addresses checksummed, defaults filled.

    Raises ``InvalidRuleParams`` (400) naming the field: an unknown kind, a missing or unknown
    field, an address that is not one, a number that is not a whole number in range.
    """
    if kind not in PARAMS:
        raise InvalidRuleParams(f"kind {kind!r} is not one of {', '.join(PARAMS)}", field="kind")
    if not isinstance(params, Mapping):
        raise InvalidRuleParams("params must be a JSON object of the rule's thresholds", field="params")
    spec = PARAMS[kind]
    unknown = sorted(set(params) - set(spec))
    if unknown:
        known = ", ".join(spec) or "none"
        raise InvalidRuleParams(
            f"{kind} takes no parameter {unknown[0]!r} (its parameters: {known})", field=str(unknown[0])
        )
    clean: dict[str, Any] = {}
    for name, param in spec.items():
        if name not in params or params[name] in (None, ""):
            if param.required:
                raise InvalidRuleParams(f"{kind} needs {name}: {param.help}", field=name)
            clean[name] = param.default
            continue
        clean[name] = _parsed(kind, name, param, params[name])
    if kind == RuleKind.ORACLE_DEVIATION and clean["feed"] == clean["reference_feed"]:
        raise InvalidRuleParams(
            "reference_feed is the feed itself: name a second, independent feed", field="reference_feed"
        )
    return clean


def _parsed(kind: str, name: str, param: Param, raw: Any) -> Any:
    if param.kind == "address":
        if not isinstance(raw, str) or not is_address(raw):
            raise InvalidRuleParams(f"{name} {str(raw)[:60]!r} is not an address (0x and 40 hex digits)", field=name)
        if raw != raw.lower() and raw != to_checksum_address(raw):
            raise InvalidRuleParams(f"{name} {raw} has a wrong EIP-55 checksum: check the address", field=name)
        return to_checksum_address(raw)
    if param.kind == "choice":
        if raw not in param.choices:
            raise InvalidRuleParams(f"{name} {str(raw)[:40]!r} is not one of {', '.join(param.choices)}", field=name)
        return raw
    # Integers may come as JSON numbers or decimal strings (amounts beyond 2**53), never as floats.
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidRuleParams(f"{name} must be a whole number, not {str(raw)[:40]!r}", field=name)
    if isinstance(raw, str):
        if not raw.strip().isdigit():
            raise InvalidRuleParams(f"{name} {raw[:40]!r} is not a whole number", field=name)
        raw = int(raw.strip())
    if not param.low <= raw <= param.high:
        raise InvalidRuleParams(f"{name} must be from {param.low} to {param.high}, not {raw}", field=name)
    return raw


def watched_addresses(kind: str, params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The contracts and tokens a rule watches: an incident's ``affected_contracts`` and ``affected_tokens``."""
    contracts = [params[k] for k in ("feed", "reference_feed", "vault", "contract") if params.get(k)]
    tokens = [params[k] for k in ("asset", "token") if params.get(k)]
    return contracts, tokens


# --- outcomes and the pure checks ---


@dataclass(frozen=True, slots=True)
class Outcome:
    """One rule's verdict at one block (``None`` for the head rules when the node said nothing)."""

    block: int | None
    ok: bool
    cause: str = ""
    message: str = ""
    value: int | None = None
    values: dict[str, Any] = field(default_factory=dict)


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """Integers as decimal strings (exact in JSON), everything else as it is."""
    return {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}


def _outcome(block: int | None, ok: bool, cause: str, message: str, value: int | None, **values: Any) -> Outcome:
    return Outcome(block=block, ok=ok, cause="" if ok else cause, message=message, value=value, values=_shown(values))


def unreadable(block: int | None, address: str, failure: CallFailed) -> Outcome:
    """A contract the rule reads did not answer: to a monitor, a broken oracle or vault, so a failure."""
    return _outcome(
        block, False, f"unreadable:{address}", f"{failure.reason} at block {block}", None, error=failure.reason
    )


def check_stale(
    block: int, round_: RoundData, block_timestamp: int, *, feed: str, heartbeat_seconds: int, grace_seconds: int
) -> Outcome:
    age = block_timestamp - round_.updated_at
    limit = heartbeat_seconds + grace_seconds
    values = {
        "round_id": round_.round_id,
        "answer": round_.answer,
        "updated_at": round_.updated_at,
        "block_timestamp": block_timestamp,
        "age_seconds": age,
        "limit_seconds": limit,
    }
    if age > limit:
        message = f"feed {feed} last updated {age} s before block {block}: older than heartbeat + grace ({limit} s)"
        return _outcome(block, False, f"stale:{feed}", message, age, **values)
    return _outcome(block, True, "", f"updated {age} s before block {block} (limit {limit} s)", age, **values)


def check_answer(block: int, round_: RoundData, *, feed: str) -> Outcome:
    values = {
        "round_id": round_.round_id,
        "answer": round_.answer,
        "updated_at": round_.updated_at,
        "answered_in_round": round_.answered_in_round,
    }
    if round_.answer <= 0:
        message = f"feed {feed} answers {round_.answer} at block {block}: a price must be positive"
        return _outcome(block, False, f"non_positive_answer:{feed}", message, round_.answer, **values)
    if round_.updated_at == 0 or round_.answered_in_round < round_.round_id:
        message = (
            f"feed {feed}'s round {round_.round_id} is incomplete at block {block} "
            f"(answeredInRound {round_.answered_in_round}, updatedAt {round_.updated_at})"
        )
        return _outcome(block, False, f"incomplete_round:{feed}", message, round_.answer, **values)
    return _outcome(block, True, "", f"answer {round_.answer} in round {round_.round_id}", round_.answer, **values)


def check_jump(
    block: int, latest: RoundData, previous: RoundData | CallFailed | None, *, feed: str, max_jump_bps: int
) -> Outcome:
    if previous is None or isinstance(previous, CallFailed) or previous.answer <= 0:
        # No earlier round to compare with (the first round, a new phase whose roundId - 1 does not
        # exist, or a broken previous answer, which the sanity rule reports): nothing to judge.
        why = previous.reason if isinstance(previous, CallFailed) else "no positive previous answer"
        return _outcome(
            block,
            True,
            "",
            f"round {latest.round_id}: {why}",
            0,
            round_id=latest.round_id,
            answer=latest.answer,
            previous="none",
        )
    change = abs(latest.answer - previous.answer)
    bps = change * 10_000 // previous.answer
    values = {
        "round_id": latest.round_id,
        "answer": latest.answer,
        "previous_round_id": previous.round_id,
        "previous_answer": previous.answer,
        "jump_bps": bps,
        "max_jump_bps": max_jump_bps,
    }
    if change * 10_000 > max_jump_bps * previous.answer:
        message = (
            f"feed {feed} moved from {previous.answer} to {latest.answer} between rounds {previous.round_id} "
            f"and {latest.round_id} ({bps} bps, above {max_jump_bps}) at block {block}"
        )
        return _outcome(block, False, f"jump:{feed}", message, bps, **values)
    return _outcome(block, True, "", f"{bps} bps from the previous round", bps, **values)


def check_deviation(
    block: int,
    answer: int,
    decimals: int,
    reference: int,
    reference_decimals: int,
    *,
    feed: str,
    reference_feed: str,
    max_deviation_bps: int,
) -> Outcome:
    # Both answers on the finer of the two scales, so feeds with different decimals compare exactly.
    scale = max(decimals, reference_decimals)
    mine, theirs = answer * 10 ** (scale - decimals), reference * 10 ** (scale - reference_decimals)
    values = {
        "answer": answer,
        "decimals": decimals,
        "reference_answer": reference,
        "reference_decimals": reference_decimals,
        "max_deviation_bps": max_deviation_bps,
    }
    if theirs <= 0:
        message = f"reference feed {reference_feed} answers {reference} at block {block}: nothing to compare with"
        return _outcome(block, False, f"reference_invalid:{reference_feed}", message, None, **values)
    gap = abs(mine - theirs)
    bps = gap * 10_000 // theirs
    if gap * 10_000 > max_deviation_bps * theirs:
        message = (
            f"feed {feed} answers {answer} and the reference {reference_feed} {reference} at block {block}: "
            f"{bps} bps apart, above {max_deviation_bps}"
        )
        return _outcome(block, False, f"deviation:{feed}", message, bps, deviation_bps=bps, **values)
    return _outcome(block, True, "", f"{bps} bps from the reference", bps, deviation_bps=bps, **values)


def check_stall(head: int, head_changed_at: datetime, now: datetime, *, stall_seconds: int) -> Outcome:
    quiet = max(int((now - head_changed_at).total_seconds()), 0)
    values = {
        "head": head,
        "head_changed_at": head_changed_at.isoformat(),
        "quiet_seconds": quiet,
        "stall_seconds": stall_seconds,
    }
    if quiet > stall_seconds:
        message = (
            f"the head has stayed at block {head} for {quiet} s (more than {stall_seconds} s): block production stalled"
        )
        return _outcome(head, False, "stall", message, quiet, **values)
    return _outcome(head, True, "", f"head {head}, advanced {quiet} s ago", quiet, **values)


def check_reachable(head: int | None, error: str = "") -> Outcome:
    if head is None:
        message = f"the RPC node did not answer: {error}"
        return _outcome(None, False, "unreachable", message, None, error=error)
    return _outcome(head, True, "", f"the node answered: head {head}", None, head=head)


def check_solvency(
    block: int,
    totals: VaultTotals,
    *,
    vault: str,
    liabilities: str,
    par_assets: int,
    par_shares: int,
    max_shortfall: int,
) -> Outcome:
    # At par, shares are owed at a fixed price, rounded up: the vault owes at least this much.
    par = -(-totals.total_supply * par_assets // par_shares)
    owed = par if liabilities == "par" else totals.supply_in_assets
    surplus = totals.total_assets - owed
    values = {
        "total_assets": totals.total_assets,
        "total_supply": totals.total_supply,
        "supply_in_assets": totals.supply_in_assets,
        "liabilities": owed,
        "liabilities_source": liabilities,
        "surplus": surplus,
        "max_shortfall": max_shortfall,
    }
    if surplus < -max_shortfall:
        message = (
            f"vault {vault} holds {totals.total_assets} but owes {owed} ({liabilities}) at block {block}: "
            f"short by {-surplus}"
        )
        return _outcome(block, False, f"insolvent:{vault}", message, surplus, **values)
    return _outcome(block, True, "", f"assets {totals.total_assets} cover liabilities {owed}", surplus, **values)


def check_supply(block: int, total_supply: int, balances_sum: int, accounts: int, *, token: str, start: str) -> Outcome:
    gap = total_supply - balances_sum
    values = {
        "total_supply": total_supply,
        "sum_of_balances": balances_sum,
        "accounts": accounts,
        "difference": gap,
        "replayed_from": start,
    }
    if gap != 0:
        message = (
            f"token {token}'s totalSupply is {total_supply} but its balances sum to {balances_sum} at block {block} "
            f"(difference {gap}): balances changed without Transfer events"
        )
        return _outcome(block, False, f"supply_mismatch:{token}", message, gap, **values)
    return _outcome(block, True, "", f"totalSupply {total_supply} equals the sum of {accounts} balances", 0, **values)


def check_drain(
    block: int,
    outflow: int,
    holdings: int,
    *,
    contract: str,
    asset: str,
    window_blocks: int,
    max_outflow_bps: int,
    window_from: int | None = None,
) -> Outcome:
    """``window_from``: the window's first block when it is shorter than ``window_blocks`` (a monitor
    that started watching inside it)."""
    start = max(block - window_blocks + 1, 0) if window_from is None else window_from
    bps = outflow * 10_000 // holdings if holdings > 0 else 0
    values = {
        "window_from": start,
        "window_to": block,
        "outflow": outflow,
        "holdings_at_start": holdings,
        "outflow_bps": bps,
        "max_outflow_bps": max_outflow_bps,
    }
    # With nothing held at the window's start, whatever leaves came in during the window: a
    # share of nothing is not defined, and such flows pass.
    if holdings > 0 and outflow * 10_000 > max_outflow_bps * holdings:
        message = (
            f"{outflow} of {asset} left {contract} in blocks {start}..{block}: {bps} bps of the {holdings} "
            f"it held before, above {max_outflow_bps}"
        )
        return _outcome(block, False, f"drain:{contract}:{asset}", message, bps, **values)
    return _outcome(block, True, "", f"{bps} bps left in the last {window_blocks} blocks", bps, **values)


# --- reads, then checks ---


@dataclass(slots=True)
class Context:
    """What one run knows: the node, the chain id, the headers of the blocks it covers."""

    rpc: RawRpc
    chain_id: int
    headers: dict[int, BlockHeader]
    # The first block the monitor checked: a window never judges what happened before it watched
    # (a drain in the past is an incident's history, not something a new monitor should pause for).
    since: int | None = None


def observe(kind: str, params: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    """The outcomes of a per-block or range-end rule at ``blocks`` (in order)."""
    return _OBSERVERS[kind](params, ctx, blocks)


def _observe_stale(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    latest = latest_rounds(ctx.rpc, p["feed"], blocks)
    return [
        unreadable(b, p["feed"], latest[b])
        if isinstance(latest[b], CallFailed)
        else check_stale(
            b,
            latest[b],
            ctx.headers[b].timestamp,
            feed=p["feed"],  # type: ignore[arg-type]
            heartbeat_seconds=p["heartbeat_seconds"],
            grace_seconds=p["grace_seconds"],
        )
        for b in blocks
    ]


def _observe_answer(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    latest = latest_rounds(ctx.rpc, p["feed"], blocks)
    return [
        unreadable(b, p["feed"], r) if isinstance(r, CallFailed) else check_answer(b, r, feed=p["feed"])
        for b, r in ((b, latest[b]) for b in blocks)
    ]


def _observe_jump(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    latest = latest_rounds(ctx.rpc, p["feed"], blocks)
    asks = [(b, r.round_id - 1) for b, r in latest.items() if isinstance(r, RoundData) and r.round_id > 1]
    previous = dict(zip((b for b, _ in asks), rounds(ctx.rpc, p["feed"], asks), strict=True))
    out = []
    for b in blocks:
        r = latest[b]
        if isinstance(r, CallFailed):
            out.append(unreadable(b, p["feed"], r))
        else:
            out.append(check_jump(b, r, previous.get(b), feed=p["feed"], max_jump_bps=p["max_jump_bps"]))
    return out


def _observe_deviation(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    feed, reference = p["feed"], p["reference_feed"]
    mine, theirs = latest_rounds(ctx.rpc, feed, blocks), latest_rounds(ctx.rpc, reference, blocks)
    # Decimals are fixed at deployment: read once, at the last block.
    last = blocks[-1]
    decimals, reference_decimals = (
        feed_decimals(ctx.rpc, feed, [last])[last],
        feed_decimals(ctx.rpc, reference, [last])[last],
    )
    out = []
    for b in blocks:
        failed = next(
            (
                (address, x)
                for address, x in (
                    (feed, mine[b]),
                    (reference, theirs[b]),
                    (feed, decimals),
                    (reference, reference_decimals),
                )
                if isinstance(x, CallFailed)
            ),
            None,
        )
        if failed is not None:
            out.append(unreadable(b, failed[0], failed[1]))  # type: ignore[arg-type]
            continue
        out.append(
            check_deviation(
                b,
                mine[b].answer,
                decimals,
                theirs[b].answer,
                reference_decimals,  # type: ignore[union-attr,arg-type]
                feed=feed,
                reference_feed=reference,
                max_deviation_bps=p["max_deviation_bps"],
            )
        )
    return out


def _observe_solvency(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    totals = vault_totals(ctx.rpc, p["vault"], blocks)
    return [
        unreadable(b, p["vault"], t)
        if isinstance(t, CallFailed)
        else check_solvency(
            b,
            t,
            vault=p["vault"],
            liabilities=p["liabilities"],
            par_assets=p["par_assets"],
            par_shares=p["par_shares"],
            max_shortfall=p["max_shortfall"],
        )
        for b, t in ((b, totals[b]) for b in blocks)
    ]


def _observe_drain(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    contract, asset, window = p["contract"], p["asset"], p["window_blocks"]

    def opening(b: int) -> int:
        """The block whose closing balance starts ``b``'s window (never before the monitor watched)."""
        lo = max(b - window, 0)
        return lo if ctx.since is None else max(lo, ctx.since - 1, 0)

    first = opening(blocks[0]) + 1
    outflows = outflows_by_block(ctx.rpc, asset, contract, first, blocks[-1])
    starts = sorted({opening(b) for b in blocks})
    holdings = balances_at_blocks(ctx.rpc, asset, contract, starts)
    out = []
    for b in blocks:
        held = holdings[opening(b)]
        if isinstance(held, CallFailed):
            out.append(unreadable(b, asset, held))
            continue
        outflow = sum(amount for block, amount in outflows.items() if opening(b) < block <= b)
        out.append(
            check_drain(
                b,
                outflow,
                held,
                contract=contract,
                asset=asset,
                window_blocks=window,
                max_outflow_bps=p["max_outflow_bps"],
                window_from=opening(b) + 1,
            )
        )
    return out


# The running sums of the supply rule between runs of one process, keyed by (chain id, token,
# replay start): (block, its hash, balances). Only an optimisation: a restart replays again
# from the latest stored balance snapshot.
_SUPPLY_STATE: dict[tuple[int, str, int], tuple[int, str, dict[str, int]]] = {}


def _observe_supply(p: Mapping[str, Any], ctx: Context, blocks: Sequence[int]) -> list[Outcome]:
    token, block = p["token"], blocks[-1]
    supply = total_supply_at(ctx.rpc, token, block)
    if isinstance(supply, CallFailed):
        return [unreadable(block, token, supply)]
    start_block, start, label = _supply_start(p, ctx, block)
    try:
        balances = (
            balances_at(ctx.rpc, token.lower(), block, from_block=start_block + 1, start=start)
            if (start_block < block)
            else dict(start or {})
        )
    except NegativeBalance as error:
        message = f"replaying {token}'s Transfer logs to block {block} leaves an account below zero: {error}"
        return [
            _outcome(block, False, f"supply_mismatch:{token}", message, None, error=str(error), replayed_from=label)
        ]
    if ctx.headers.get(block) is not None:
        _SUPPLY_STATE[(ctx.chain_id, token, p["from_block"])] = (block, ctx.headers[block].hash, balances)
    return [check_supply(block, supply, sum(balances.values()), len(balances), token=token, start=label)]


def _supply_start(p: Mapping[str, Any], ctx: Context, block: int) -> tuple[int, dict[str, int] | None, str]:
    """Where the replay starts: ``(last block already applied, balances after it, label)``.

    The running sums of an earlier run if their block is still on the chain, else the latest
    ``BalanceSnapshot`` covering the token's whole history whose block the chain still has, else
    nothing (a replay from ``from_block``).
    """
    token = p["token"]
    cached = _SUPPLY_STATE.get((ctx.chain_id, token, p["from_block"]))
    if cached is not None and cached[0] <= block and _still_on_chain(ctx, cached[0], cached[1]):
        return cached[0], dict(cached[2]), f"running sums at block {cached[0]}"
    candidates = (
        BalanceSnapshot.objects.filter(
            chain_id=ctx.chain_id, token__in=[token, token.lower()], block__lte=block, from_block__lte=p["from_block"]
        )
        .exclude(block_hash="")
        .order_by("-block", "-pk")
    )
    for snapshot in candidates[:5]:
        if _still_on_chain(ctx, snapshot.block, snapshot.block_hash):
            return (
                snapshot.block,
                unpack_balances(bytes(snapshot.balances)),
                f"balance snapshot at block {snapshot.block}",
            )
    return p["from_block"] - 1, None, f"replay from block {p['from_block']}"


def _still_on_chain(ctx: Context, block: int, block_hash: str) -> bool:
    header = ctx.headers.get(block)
    if header is None:
        try:
            header = block_headers(ctx.rpc, [block])[block]
        except BlockMissing:
            return False
    return header.hash == block_hash.lower()


_OBSERVERS: dict[str, Callable[[Mapping[str, Any], Context, Sequence[int]], list[Outcome]]] = {
    RuleKind.ORACLE_STALE: _observe_stale,
    RuleKind.ORACLE_ANSWER: _observe_answer,
    RuleKind.ORACLE_JUMP: _observe_jump,
    RuleKind.ORACLE_DEVIATION: _observe_deviation,
    RuleKind.SOLVENCY: _observe_solvency,
    RuleKind.DRAIN: _observe_drain,
    RuleKind.SUPPLY: _observe_supply,
}
