"""Margin markets in an impact analysis: every account valued at the rollback and reference blocks,
the liquidations in between, and which of them happened at a price the monitor flagged (issue 16,
part 3).

Two steps, because an analysis reads the chain before it opens the transaction that completes it:

* :func:`read_margin_impact` reads each margin market of the analysis (``position_readers`` naming
  ``margin_market``): its accounts at both blocks in one pass over its ``AccountUpdated`` logs, a
  sample cross-checked against ``accountOf`` at each block (a mismatch raises
  ``PositionMismatch`` and fails the analysis), its price and funding index at each block, and its
  ``Liquidated`` events after the rollback block up to the reference block.
* :func:`store_margin_impact`, called inside that transaction, writes one ``MarginAccountImpact``
  per account and one ``MarginLiquidation`` per event and returns the summary's ``margin`` section.

Values follow the market's own integer arithmetic (``chain.margin.value``): net value and health
at the rollback block use the rollback block's price and funding index, and at the reference block
the reference block's. A liquidation is *unfair* when a firing of an oracle rule on the analysis'
chain covers its block (``first_block <= block <= last_block``): the monitor had flagged the price
it was liquidated at as stale or wrong. Its cost to the account: the penalty (the seized
collateral valued at the liquidation price, truncated, less the debt repaid) and the lost
collateral (what the liquidator took, in asset units).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from chain.logs import RawRpc
from chain.margin import PRICE_SCALE, MarginAccount, Valuation, value
from chain.margin_positions import (
    Liquidation,
    MarketState,
    cross_check,
    deployment_block,
    read_market_state,
    scan_accounts_at_two_blocks,
    scan_liquidations,
)
from monitoring.models import Firing, RuleKind
from recovery.models import ImpactAnalysis, MarginAccountImpact, MarginLiquidation
from recovery.storage import bulk_insert

__all__ = [
    "MARGIN_READER",
    "ORACLE_RULE_KINDS",
    "AccountValuation",
    "MarketImpact",
    "liquidation_penalty",
    "oracle_firings_covering",
    "read_margin_impact",
    "store_margin_impact",
]

MARGIN_READER = "margin_market"
ORACLE_RULE_KINDS = (
    RuleKind.ORACLE_STALE,
    RuleKind.ORACLE_ANSWER,
    RuleKind.ORACLE_JUMP,
    RuleKind.ORACLE_DEVIATION,
)


@dataclass(frozen=True, slots=True)
class AccountValuation:
    """One account at both blocks; ``account`` EIP-55."""

    account: str
    before: MarginAccount
    after: MarginAccount
    valued_before: Valuation
    valued_after: Valuation
    liquidated: bool

    @property
    def lost_net_value(self) -> int:
        return self.valued_before.net_value - self.valued_after.net_value


@dataclass(frozen=True, slots=True)
class MarketImpact:
    """One margin market read for an analysis: accounts in lowercase-address order, liquidations in chain order."""

    market: str
    state_before: MarketState
    state_after: MarketState
    accounts: tuple[AccountValuation, ...]
    liquidations: tuple[Liquidation, ...]
    cross_checked: int


def margin_positions_in_asset(
    impact: MarketImpact, balances_before: Mapping[str, int], balances_after: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """The ``margin_market`` reader's positions at both blocks from an already-read ``impact``.

    As ``chain.margin_positions.MarginMarketPositions.positions``: each account's net value in
    asset units at the block's price, ``max(0, net) * 1e8 // price``, keyed by lowercase address;
    accounts holding only the credit token (in ``balances_*``) count 0.
    """
    before = {account.lower(): 0 for account in balances_before}
    after = {account.lower(): 0 for account in balances_after}
    for entry in impact.accounts:
        key = entry.account.lower()
        before[key] = max(0, entry.valued_before.net_value) * PRICE_SCALE // impact.state_before.price
        after[key] = max(0, entry.valued_after.net_value) * PRICE_SCALE // impact.state_after.price
    return before, after


def liquidation_penalty(liquidation: Liquidation) -> int:
    """What the liquidator gained over the debt it repaid, USD 6 dec: the seized collateral valued at
    the liquidation price (truncated, as the market values collateral) less the debt repaid."""
    return liquidation.seized_collateral * liquidation.price // PRICE_SCALE - liquidation.debt_repaid


def read_margin_impact(rpc: RawRpc, analysis: ImpactAnalysis) -> dict[str, MarketImpact]:
    """Each margin market of ``analysis`` read and valued at both blocks. Reads the chain only.

    Raises ``PositionMismatch`` when the events disagree with ``accountOf`` for a sampled account
    at either block, and ``NotAnErc20`` when a market's price reverts at either block (its feed
    answered zero or less: the accounts cannot be valued there).
    """
    impacts = {}
    for market, reader in sorted(analysis.position_readers.items()):
        if reader != MARGIN_READER:
            continue
        impacts[market] = _read_market(rpc, market, analysis.rollback_block, analysis.reference_block)
    return impacts


def _read_market(rpc: RawRpc, market: str, rollback_block: int, reference_block: int) -> MarketImpact:
    # From the market's first block (its events from there are its whole book), but never past the
    # rollback block + 1, where the two-block scan must start at the latest.
    start = min(deployment_block(rpc, market, reference_block), rollback_block + 1)
    before, after = scan_accounts_at_two_blocks(rpc, market, start, rollback_block, reference_block)
    checked = cross_check(rpc, market, before, rollback_block) if before else 0
    checked += cross_check(rpc, market, after, reference_block) if after else 0
    state_before = read_market_state(rpc, market, rollback_block)
    state_after = read_market_state(rpc, market, reference_block)
    liquidations = (
        scan_liquidations(rpc, market, rollback_block + 1, reference_block) if reference_block > rollback_block else []
    )
    liquidated = {entry.account for entry in liquidations}
    empty = MarginAccount()
    accounts = []
    for address in sorted(set(before) | set(after)):
        was, now = before.get(address, empty), after.get(address, empty)
        if was.is_empty and now.is_empty and address not in liquidated:
            continue  # opened and closed before the rollback block: nothing to value
        accounts.append(
            AccountValuation(
                account=to_checksum_address(address),
                before=was,
                after=now,
                valued_before=value(was, price=state_before.price, funding_index=state_before.funding_index),
                valued_after=value(now, price=state_after.price, funding_index=state_after.funding_index),
                liquidated=address in liquidated,
            )
        )
    return MarketImpact(
        market=to_checksum_address(market),
        state_before=state_before,
        state_after=state_after,
        accounts=tuple(accounts),
        liquidations=tuple(liquidations),
        cross_checked=checked,
    )


def oracle_firings_covering(
    *, chain_id: int, blocks: Iterable[int], incident_id: int | None = None
) -> dict[int, Firing]:
    """For each block, the oracle-rule firing on ``chain_id`` whose block range covers it, if any.

    Where several cover a block, a firing of ``incident_id`` comes first, then the earliest.
    """
    wanted = sorted(set(blocks))
    if not wanted:
        return {}
    candidates = list(
        Firing.objects.select_related("rule")
        .filter(
            rule__kind__in=ORACLE_RULE_KINDS,
            rule__watched__chain_id=chain_id,
            first_block__isnull=False,
            last_block__isnull=False,
            first_block__lte=wanted[-1],
            last_block__gte=wanted[0],
        )
        .order_by("pk")
    )
    candidates.sort(key=lambda firing: (firing.incident_id != incident_id, firing.pk))
    covering = {}
    for block in wanted:
        for firing in candidates:
            if firing.first_block <= block <= firing.last_block:
                covering[block] = firing
                break
    return covering


def store_margin_impact(*, analysis: ImpactAnalysis, impacts: Mapping[str, MarketImpact]) -> dict[str, Any]:
    """Write the margin rows of ``analysis`` and return its summary's ``margin`` section.

    Precondition: the caller holds the analysis row's lock in the transaction that completes it;
    rows of an earlier, interrupted attempt are replaced.
    """
    MarginAccountImpact.objects.filter(analysis=analysis).delete()
    MarginLiquidation.objects.filter(analysis=analysis).delete()
    chain_id = analysis.node_chain_id or analysis.incident.chain_id
    firings = oracle_firings_covering(
        chain_id=chain_id,
        blocks=(entry.block for impact in impacts.values() for entry in impact.liquidations),
        incident_id=analysis.incident_id,
    )
    bulk_insert(
        MarginAccountImpact,
        [
            "analysis",
            "market",
            "account",
            "net_value_before",
            "net_value_after",
            "lost_net_value",
            "health_factor_before",
            "health_factor_after",
            "pnl_before",
            "collateral_before",
            "debt_before",
            "liquidated",
        ],
        (
            (
                analysis.pk,
                market,
                row.account,
                row.valued_before.net_value,
                row.valued_after.net_value,
                row.lost_net_value,
                row.valued_before.health_factor,
                row.valued_after.health_factor,
                row.valued_before.pnl - row.valued_before.funding,
                row.before.collateral,
                row.before.debt,
                row.liquidated,
            )
            for market, impact in impacts.items()
            for row in impact.accounts
        ),
    )
    MarginLiquidation.objects.bulk_create(
        [
            MarginLiquidation(
                analysis=analysis,
                market=market,
                account=to_checksum_address(entry.account),
                liquidator=to_checksum_address(entry.liquidator),
                block=entry.block,
                tx_hash=entry.tx_hash,
                log_index=entry.log_index,
                price=entry.price,
                seized_collateral=entry.seized_collateral,
                debt_repaid=entry.debt_repaid,
                closed_size=entry.closed_size,
                realized_pnl=entry.realized_pnl,
                penalty=liquidation_penalty(entry),
                unfair_firing=firings.get(entry.block),
            )
            for market, impact in impacts.items()
            for entry in impact.liquidations
        ],
        batch_size=1000,
    )
    return {market: _market_summary(impact, firings) for market, impact in impacts.items()}


def _market_summary(impact: MarketImpact, firings: Mapping[int, Firing]) -> dict[str, Any]:
    """Counts, totals and the liquidations of one market; integers as decimal strings."""
    fair, unfair = [], []
    for entry in impact.liquidations:
        firing = firings.get(entry.block)
        shown = _liquidation_json(entry)
        if firing is None:
            fair.append(shown)
        else:
            unfair.append({**shown, "firing": firing.pk, "rule": firing.rule.name, "rule_kind": firing.rule.kind})
    losers = [row for row in impact.accounts if row.lost_net_value > 0]
    return {
        "blocks": {"rollback": impact.state_before.block, "reference": impact.state_after.block},
        "price_before": str(impact.state_before.price),
        "price_after": str(impact.state_after.price),
        "funding_index_before": str(impact.state_before.funding_index),
        "funding_index_after": str(impact.state_after.funding_index),
        "accounts": len(impact.accounts),
        "cross_checked_accounts": impact.cross_checked,
        "affected_accounts": len(losers),
        "liquidated_accounts": sum(1 for row in impact.accounts if row.liquidated),
        "total_net_value_before": str(sum(row.valued_before.net_value for row in impact.accounts)),
        "total_net_value_after": str(sum(row.valued_after.net_value for row in impact.accounts)),
        "total_lost_net_value": str(sum(row.lost_net_value for row in losers)),
        "liquidations": len(impact.liquidations),
        "fair_liquidations": fair,
        "unfair_liquidations": unfair,
        "unfair_penalty_total": str(sum(int(entry["penalty"]) for entry in unfair)),
        "unfair_lost_collateral_total": str(sum(int(entry["lost_collateral"]) for entry in unfair)),
    }


def _liquidation_json(entry: Liquidation) -> dict[str, Any]:
    return {
        "account": to_checksum_address(entry.account),
        "liquidator": to_checksum_address(entry.liquidator),
        "block": entry.block,
        "tx_hash": entry.tx_hash,
        "log_index": entry.log_index,
        "price": str(entry.price),
        "debt_repaid": str(entry.debt_repaid),
        "penalty": str(liquidation_penalty(entry)),
        "lost_collateral": str(entry.seized_collateral),
    }
