"""Restore-positions plans: each affected margin account re-created on a migrated market.

The analysis names the old market (``position_readers`` ``{market: "margin_market"}``). An
account is affected when its book entry at the reference block differs from the rollback
block's (liquidated, or changed since) and it had one at the rollback block; its row is that
rollback entry (``chain.margin.RestoreRow``) with the funding it owed then. Rows go into
batches under the gas ceiling; each batch is one ``RecoveryExecutor.executePositionBatch`` and
one leaf ``[chainId, executor, planId, batchIndex, keccak256(abi.encode(venue, rows))]`` of the
same OpenZeppelin ``StandardMerkleTree`` payment plans use, so a batch can be neither altered
nor invented after the vote. Nothing is partial: every affected account is restored in full,
and a budget below what the rows need is refused.

Everything is validated and read before one transaction writes the plan, so a refused build
leaves nothing behind.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from chain.errors import ChainError
from chain.margin import MarginAccount, RestoreRow, encode_restore, signed_word
from chain.redaction import redact
from recovery.commitment import BATCH_LEAF_ENCODING, CommitmentDomain
from recovery.exceptions import ChainUnavailable, InvalidInput
from recovery.merkle import StandardMerkleTree
from recovery.models import (
    ImpactAnalysis,
    Incident,
    IncidentStatus,
    MigrationBatch,
    PlanAsset,
    PlanDelivery,
    PlanMode,
    PlanPolicy,
    RecoveryPlan,
)
from recovery.validation import parse_address, parse_amount

# The position reader an analysis names its margin market with (chain.positions.READERS).
MARGIN_READER = "margin_market"
# RecoveryExecutor.Mode.RestorePositions.
EXECUTOR_MODE = 2
# Gas of executePositionBatch: per transaction (proof, plan bookkeeping, the asset's approve,
# pull and reset) and per restored account (six storage slots written from zero, 22,100 each,
# its AccountUpdated event and seven calldata words). Conservative figures;
# tests/recovery/test_positions_plan.py runs stored plans on chain and checks every batch's
# estimate bounds the gas it used.
GAS_POSITION_BASE = 150_000
GAS_PER_POSITION = 160_000

_RESTORER_ROLE = "0x" + keccak(text="RESTORER_ROLE()").hex()[:8]
_HAS_ROLE = "0x" + keccak(text="hasRole(bytes32,address)").hex()[:8]
_ASSET = "0x" + keccak(text="asset()").hex()[:8]
_ACCOUNT_OF = "0x" + keccak(text="accountOf(address)").hex()[:8]
_FUNDING_INDEX = "0x" + keccak(text="fundingIndex()").hex()[:8]


@dataclass(frozen=True, slots=True)
class PositionBatch:
    index: int
    rows: tuple[RestoreRow, ...]

    @property
    def total(self) -> int:
        return sum(row.asset_needed for row in self.rows)


def row_json(row: RestoreRow) -> dict[str, str]:
    """A row as stored in ``MigrationBatch.positions``: decimal strings (JSON numbers lose precision)."""
    return {
        "account": row.account,
        "collateral": str(row.collateral),
        "debt": str(row.debt),
        "size": str(row.size),
        "entry_price": str(row.entry_price),
        "margin": str(row.margin),
        "funding_debt": str(row.funding_debt),
    }


def row_from_json(raw: Mapping[str, str]) -> RestoreRow:
    return RestoreRow(
        account=to_checksum_address(raw["account"]),
        collateral=int(raw["collateral"]),
        debt=int(raw["debt"]),
        size=int(raw["size"]),
        entry_price=int(raw["entry_price"]),
        margin=int(raw["margin"]),
        funding_debt=int(raw["funding_debt"]),
    )


def batch_leaf_value(domain: CommitmentDomain, venue: str, batch: PositionBatch) -> list[object]:
    """The leaf of ``batch`` in ``BATCH_LEAF_ENCODING`` order: what ``executePositionBatch`` recomputes."""
    return [
        domain.chain_id,
        to_checksum_address(domain.recovery_executor),
        domain.plan_id,
        batch.index,
        "0x" + keccak(encode_restore(to_checksum_address(venue), batch.rows)).hex(),
    ]


def build_positions_commitment(
    batches: Sequence[PositionBatch], *, domain: CommitmentDomain, venue: str
) -> StandardMerkleTree:
    """The commitment tree over ``batches`` (indexes 0..n-1 in order) bound to ``domain`` and ``venue``."""
    for position, batch in enumerate(batches):
        if batch.index != position:
            raise ValueError(f"batch at position {position} has index {batch.index}: indexes must run 0..n-1")
    return StandardMerkleTree.of([batch_leaf_value(domain, venue, batch) for batch in batches], BATCH_LEAF_ENCODING)


def stored_position_batches(plan_asset: PlanAsset) -> list[PositionBatch]:
    """The plan asset's stored batches with their committed rows, in index order."""
    return [
        PositionBatch(index=index, rows=tuple(row_from_json(raw) for raw in positions or ()))
        for index, positions in MigrationBatch.objects.filter(plan_asset=plan_asset)
        .order_by("index")
        .values_list("index", "positions")
    ]


def estimate_position_gas(rows: int) -> int:
    return GAS_POSITION_BASE + rows * GAS_PER_POSITION


def plan_position_batches(rows: Sequence[RestoreRow], *, gas_ceiling: int) -> list[PositionBatch]:
    """``rows`` in their order, filled greedily into batches whose estimate stays within ``gas_ceiling``.

    Unlike payments, a row needing no asset (a debt left without collateral) is still a row: the
    market must re-create its debt.
    """
    if gas_ceiling < GAS_POSITION_BASE + GAS_PER_POSITION:
        raise InvalidInput(
            f"one restored position needs {GAS_POSITION_BASE + GAS_PER_POSITION} gas ({GAS_POSITION_BASE} base + "
            f"{GAS_PER_POSITION}), over the ceiling of {gas_ceiling}: raise gas_ceiling",
            field="gas_ceiling",
        )
    per_batch = (gas_ceiling - GAS_POSITION_BASE) // GAS_PER_POSITION
    return [
        PositionBatch(index=index, rows=tuple(rows[start : start + per_batch]))
        for index, start in enumerate(range(0, len(rows), per_batch))
    ]


def build_positions_plan(
    *,
    analysis: ImpactAnalysis,
    policy: str,
    venue: str | None,
    budgets: Mapping[str, Any],
    payout_tokens: Mapping[str, str],
    claims: Mapping[str, Any],
    include_contracts: Sequence[str],
    excluded: Sequence[str],
    dust: int,
    calls: list[dict[str, Any]],
    gas_ceiling: int,
    delivery: str,
    recovery_executor: str,
    auto_execute: bool,
    created_by: AbstractBaseUser | None,
    rpc_url: str | None,
) -> RecoveryPlan:
    """Build and store a restore-positions plan version of ``analysis`` (checked by ``build_plan``'s caller part).

    ``venue`` is the migrated market the positions are re-created on: a MarginMarket granting
    ``recovery_executor`` its RESTORER_ROLE, lending against the old market's asset. ``budgets``
    may give the old market's budget in asset units (at least what the rows need; default
    exactly that).
    """
    from recovery.plans import default_contract_exclusions

    market = _margin_market(analysis)
    if policy != PlanPolicy.FULL:
        raise InvalidInput(
            "a restore-positions plan restores every affected position in full: policy must be full "
            "(a partial restore is not offered)",
            field="policy",
        )
    if delivery != PlanDelivery.PUSH:
        raise InvalidInput(
            "a restore-positions plan is delivered by push only: the executor re-creates each position on the "
            "venue; push_fallback and pull have nothing to credit or claim",
            field="delivery",
        )
    for name, given in (("payout_tokens", payout_tokens), ("claims", claims), ("include_contracts", include_contracts)):
        if given:
            raise InvalidInput(
                f"{name} does not apply to a restore-positions plan: its rows are the market's own book at the "
                "rollback block, paid in the market's asset",
                field=name,
            )
    if dust:
        raise InvalidInput(
            "dust_threshold does not apply to a restore-positions plan: no position is dropped", field="dust_threshold"
        )
    if not venue:
        raise InvalidInput(
            "a restore-positions plan needs its venue: the migrated margin market granting the RecoveryExecutor "
            "its RESTORER_ROLE",
            field="venue",
        )
    venue = parse_address(venue, field="venue")
    if venue == market:
        raise InvalidInput(
            f"venue {venue} is the analysed market itself: positions are restored on a migrated market",
            field="venue",
        )
    budget = None
    for key, raw in budgets.items():
        if parse_address(key, field="budgets") != market:
            raise InvalidInput(f"{key} is not the analysed margin market {market}", field="budgets")
        budget = parse_amount(raw, field=f"budgets[{market}]")
    exploiters = [to_checksum_address(a) for a in analysis.incident.exploiter_addresses]
    defaults = default_contract_exclusions(analysis)
    reasons = {
        **{account: entry.reason for account, entry in defaults.items()},
        **dict.fromkeys(excluded, "excluded by the plan"),
        **dict.fromkeys(exploiters, "exploiter named in the incident"),
    }
    all_excluded = list(dict.fromkeys([*excluded, *exploiters, *defaults]))

    chain = _read_chain(analysis, market=market, venue=venue, executor=recovery_executor, rpc_url=rpc_url)
    rows, left_out = restore_rows(
        chain.rollback,
        chain.reference,
        funding_index=chain.funding_index,
        excluded=reasons,
        occupied=chain.occupied,
    )
    needed = sum(row.asset_needed for row in rows)
    if budget is not None and budget < needed:
        raise InvalidInput(
            f"the budget {budget} is below the {needed} base units of {chain.asset} the {len(rows)} positions need "
            "(collateral plus margin): a partial restore is not offered; give at least that, or no budget",
            field="budgets",
        )
    return store_positions_plan(
        analysis=analysis,
        market=market,
        venue=venue,
        asset=chain.asset,
        decimals=chain.decimals,
        funding_index=chain.funding_index,
        rows=rows,
        left_out=left_out,
        budget=budget,
        exclusions=all_excluded,
        policy=policy,
        calls=calls,
        gas_ceiling=gas_ceiling,
        delivery=delivery,
        recovery_executor=recovery_executor,
        auto_execute=auto_execute,
        created_by=created_by,
    )


def restore_rows(
    rollback: Mapping[str, MarginAccount],
    reference: Mapping[str, MarginAccount],
    *,
    funding_index: int,
    excluded: Mapping[str, str],
    occupied: frozenset[str] | set[str] = frozenset(),
) -> tuple[list[RestoreRow], list[dict[str, str]]]:
    """The rows to restore, ordered by lowercase address, and the affected accounts left out.

    Affected: a non-empty entry at the rollback block that differs at the reference block (an
    account missing there is empty). ``excluded`` maps EIP-55 accounts to the reason they are
    left out; ``occupied`` are EIP-55 accounts already holding a position on the venue, which
    ``restorePositions`` would refuse (AccountNotEmpty). ``funding_index`` is the old market's
    at the rollback block.
    """
    reference = {account.lower(): entry for account, entry in reference.items()}
    rows, left_out = [], []
    for account in sorted(rollback, key=str.lower):
        before = rollback[account]
        if before.is_empty or reference.get(account.lower(), MarginAccount()) == before:
            continue
        address = to_checksum_address(account)
        row = RestoreRow.from_account(address, before, funding_index=funding_index)
        if address in excluded or address in occupied:
            reason = excluded.get(address, "already holds a position on the venue (restored by an earlier version?)")
            left_out.append({"account": address, "claim": str(row.asset_needed), "reason": reason})
            continue
        rows.append(row)
    return rows, left_out


def store_positions_plan(
    *,
    analysis: ImpactAnalysis,
    market: str,
    venue: str,
    asset: str,
    decimals: int | None,
    funding_index: int,
    rows: Sequence[RestoreRow],
    left_out: Sequence[Mapping[str, str]],
    budget: int | None,
    exclusions: Sequence[str],
    policy: str,
    calls: list[dict[str, Any]],
    gas_ceiling: int,
    delivery: str,
    recovery_executor: str,
    auto_execute: bool,
    created_by: AbstractBaseUser | None,
) -> RecoveryPlan:
    """Batch and commit ``rows`` and write the plan as the incident's next version, in one transaction."""
    from recovery.plans import (
        create_next_version,
        default_contract_exclusions,
        incident_key,
        onchain_plan_id,
        refuse_while_earlier_versions_pay,
    )

    defaults = default_contract_exclusions(analysis)
    all_excluded = list(exclusions)
    needed = sum(row.asset_needed for row in rows)
    batches = plan_position_batches(rows, gas_ceiling=gas_ceiling)
    earlier = RecoveryPlan.objects.filter(incident=analysis.incident).aggregate(v=Max("version"))["v"] or 0
    refuse_while_earlier_versions_pay(analysis.incident_id)
    with transaction.atomic():
        plan = create_next_version(
            analysis,
            expected_version=earlier + 1,
            mode=PlanMode.RESTORE_POSITIONS,
            policy=policy,
            exclusions=all_excluded,
            dust_threshold=0,
            parameter_changes=calls,
            gas_ceiling=gas_ceiling,
            delivery=delivery,
            claim_deadline=None,
            recovery_executor=recovery_executor,
            auto_execute=auto_execute,
            created_by=created_by,
        )
        chain_id = analysis.incident.chain_id
        plan_id = onchain_plan_id(chain_id=chain_id, plan_id=plan.pk, asset=market)
        domain = CommitmentDomain(chain_id, recovery_executor, plan_id)
        tree = build_positions_commitment(batches, domain=domain, venue=venue) if batches else None
        plan_asset = PlanAsset.objects.create(
            plan=plan,
            asset=market,
            payout_token=asset,
            venue=venue,
            budget=needed if budget is None else budget,
            total_claims=needed,
            total_allocated=needed,
            commitment_root=tree.root if tree else "",
            onchain_plan_id=plan_id,
        )
        MigrationBatch.objects.bulk_create(
            MigrationBatch(
                plan_asset=plan_asset,
                index=batch.index,
                recipients=[row.account for row in batch.rows],
                amounts=[str(row.asset_needed) for row in batch.rows],
                total=batch.total,
                leaf_hash=tree.leaf_hash(list(tree.values[batch.index])),
                gas_estimate=estimate_position_gas(len(batch.rows)),
                positions=[row_json(row) for row in batch.rows],
            )
            for batch in (batches if tree is not None else [])
        )
        gas = sum(estimate_position_gas(len(batch.rows)) for batch in batches)
        plan.summary = {
            "assets": {
                market: {
                    "budget": str(plan_asset.budget),
                    "payout_token": asset,
                    "decimals": decimals,
                    "payout_decimals": decimals,
                    "venue": venue,
                    "recipients": len(rows),
                    "total_claims": str(needed),
                    "total_allocated": str(needed),
                    "excluded": list(left_out),
                    "dust_count": 0,
                    "dust_total": "0",
                    "surplus": str(plan_asset.budget - needed),
                    "batches": len(batches),
                    "allocation_root": "",
                    "commitment_root": plan_asset.commitment_root,
                    "onchain_plan_id": str(plan_id),
                    "gas": {"push": gas, "push_batches": len(batches), "pull": 0, "per_claim": 0},
                    "positions": {
                        "market": market,
                        "venue": venue,
                        "rollback_block": analysis.rollback_block,
                        "reference_block": analysis.reference_block,
                        "funding_index": str(funding_index),
                        "accounts": len(rows),
                        "debt": str(sum(row.debt for row in rows)),
                    },
                    "paid_by_earlier_versions": {"total": "0", "accounts": 0},
                }
            },
            "parameter_changes": len(calls),
            "contracts": {
                "excluded_by_default": [
                    {"account": account, "reason": entry.reason} for account, entry in defaults.items()
                ],
                "included": [],
            },
            "incident_key": incident_key(chain_id, analysis.incident_id),
            "version": plan.version,
            "delivery": delivery,
            "claim_deadline": None,
            "recovery_executor": recovery_executor,
            "auto_execute": auto_execute,
        }
        plan.save(update_fields=["summary"])
        Incident.objects.filter(
            pk=analysis.incident_id, status__in=[IncidentStatus.OPEN, IncidentStatus.ANALYSING]
        ).update(status=IncidentStatus.PLANNING)
    return plan


def _margin_market(analysis: ImpactAnalysis) -> str:
    markets = [token for token, reader in (analysis.position_readers or {}).items() if reader == MARGIN_READER]
    if len(markets) != 1:
        raise InvalidInput(
            f"impact analysis {analysis.pk} names "
            + ("no margin market" if not markets else f"{len(markets)} margin markets")
            + f": a restore-positions plan restores one market's positions; request an analysis with "
            f'position_readers {{"<market>": "{MARGIN_READER}"}}',
            field="mode",
        )
    return to_checksum_address(markets[0])


@dataclass(frozen=True, slots=True)
class _ChainFacts:
    rollback: dict[str, MarginAccount]  # lowercase address -> entry at the rollback block
    reference: dict[str, MarginAccount]
    funding_index: int  # the old market's, at the rollback block
    asset: str  # EIP-55: the markets' common asset
    decimals: int | None
    occupied: frozenset[str]  # EIP-55 accounts not empty on the venue now


def _read_chain(
    analysis: ImpactAnalysis, *, market: str, venue: str, executor: str, rpc_url: str | None
) -> _ChainFacts:
    """The venue checked, and both blocks' books of the old market, from one node."""
    from chain.balances import token_decimals
    from chain.blocks import block_hashes, head_block
    from chain.logs import RawRpc
    from chain.margin_positions import scan_accounts
    from recovery.plans import require_incident_chain

    url = rpc_url or settings.CHAIN_RPC_URL
    try:
        with RawRpc(url) as rpc:
            require_incident_chain(rpc, analysis, what="the positions")
            expected = {
                analysis.rollback_block: analysis.rollback_block_hash,
                analysis.reference_block: analysis.reference_block_hash,
            }
            hashes = block_hashes(rpc, list(expected))
            for block, known in expected.items():
                if known and hashes.get(block) != known:
                    raise InvalidInput(
                        f"block {block} is no longer the block the analysis read (hash {known}, now "
                        f"{hashes.get(block)}): the chain reorganised; request a new analysis",
                        field="analysis",
                    )
            head = head_block(rpc)
            asset, occupied_checks = _check_venue(rpc, market=market, venue=venue, executor=executor, head=head)
            rollback = scan_accounts(rpc, market, analysis.from_block, analysis.rollback_block)
            reference = scan_accounts(rpc, market, analysis.from_block, analysis.reference_block)
            funding = _call(rpc, market, _FUNDING_INDEX, analysis.rollback_block, what="fundingIndex()")
            candidates = [to_checksum_address(a) for a, entry in rollback.items() if not entry.is_empty]
            occupied = occupied_checks(candidates)
            decimals = token_decimals(rpc, [asset], head).get(asset)
    except ChainError as error:
        raise ChainUnavailable(redact(f"cannot read the margin positions: {error}", secrets=[url])) from None
    return _ChainFacts(
        rollback={a.lower(): entry for a, entry in rollback.items()},
        reference={a.lower(): entry for a, entry in reference.items()},
        funding_index=signed_word(int(funding, 16)),
        asset=asset,
        decimals=decimals,
        occupied=frozenset(occupied),
    )


def _check_venue(rpc: Any, *, market: str, venue: str, executor: str, head: int) -> tuple[str, Any]:
    """The venue's asset, after refusing a venue that cannot take the restore; and a reader of occupied accounts."""
    code = rpc.call("eth_getCode", [venue, hex(head)])
    if code in (None, "", "0x"):
        raise InvalidInput(f"venue {venue} has no contract code", field="venue")
    replies = rpc.batch(
        [
            ("eth_call", [{"to": venue, "data": _RESTORER_ROLE}, hex(head)]),
            ("eth_call", [{"to": venue, "data": _ASSET}, hex(head)]),
            ("eth_call", [{"to": market, "data": _ASSET}, hex(head)]),
        ]
    )
    role, venue_asset, market_asset = (_word(reply) for reply in replies)
    if role is None or venue_asset is None:
        raise InvalidInput(
            f"venue {venue} is not a margin market (it answers no RESTORER_ROLE() and asset())", field="venue"
        )
    if market_asset is None:
        raise InvalidInput(f"the analysed market {market} answers no asset(): it is no margin market", field="mode")
    if venue_asset != market_asset:
        raise InvalidInput(
            f"venue {venue} lends against {_address(venue_asset)}, the analysed market against "
            f"{_address(market_asset)}: positions are restored in the same asset",
            field="venue",
        )
    data = _HAS_ROLE + encode(["bytes32", "address"], [bytes.fromhex(role[2:]), executor]).hex()
    granted = _word(rpc.batch([("eth_call", [{"to": venue, "data": data}, hex(head)])])[0])
    if granted is None or int(granted, 16) != 1:
        raise InvalidInput(
            f"venue {venue} does not grant the RecoveryExecutor {executor} its RESTORER_ROLE: grant it "
            "(the venue's admin) before building the plan",
            field="venue",
        )

    def occupied(accounts: Sequence[str]) -> list[str]:
        found = []
        for start in range(0, len(accounts), 500):
            chunk = accounts[start : start + 500]
            replies = rpc.batch(
                [
                    ("eth_call", [{"to": venue, "data": _ACCOUNT_OF + encode(["address"], [a]).hex()}, hex(head)])
                    for a in chunk
                ]
            )
            for account, reply in zip(chunk, replies, strict=True):
                result = reply.get("result")
                if not isinstance(result, str) or len(result) < 2 + 64 * 6:
                    raise InvalidInput(f"venue {venue} answers no accountOf({account})", field="venue")
                if not MarginAccount.from_words(bytes.fromhex(result[2:])).is_empty:
                    found.append(account)
        return found

    return _address(venue_asset), occupied


def _word(reply: Mapping[str, Any]) -> str | None:
    result = reply.get("result")
    return result if reply.get("error") is None and isinstance(result, str) and len(result) == 66 else None


def _address(word: str) -> str:
    return to_checksum_address("0x" + word[-40:])


def _call(rpc: Any, to: str, data: str, block: int, *, what: str) -> str:
    reply = rpc.batch([("eth_call", [{"to": to, "data": data}, hex(block)])])[0]
    word = _word(reply)
    if word is None:
        raise InvalidInput(f"{to} answers no {what} at block {block}: it is no margin market", field="mode")
    return word
