"""Margin accounts rebuilt from AccountUpdated events equal the market's accountOf, at any block.

Each test deploys a MarginMarket on the demo asset and feed (the deployer as admin, so it may
restore rows and accrue funding), fills it with restored rows and real holders' actions (the
"rollback" block), then drops the price, accrues funding, liquidates whoever became liquidatable
and closes two positions (the "reference" block).
"""

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.artifacts import bind, factory
from chain.demo import DemoDeployment, holder_account
from chain.errors import NotAnErc20
from chain.logs import RawRpc
from chain.margin import PRICE_SCALE, RestoreRow
from chain.margin_positions import (
    Liquidation,
    PositionMismatch,
    cross_check,
    deployment_block,
    read_accounts_by_call,
    read_market_state,
    scan_accounts,
    scan_accounts_at_two_blocks,
    scan_liquidations,
)
from chain.positions import READERS
from chain.transact import send

RESTORED = 30
HOLDERS = 4
DROPPED_PRICE = 80_000_000


@dataclass
class Scenario:
    market: Contract
    deployed_at: int
    rollback: int
    reference: int
    liquidated: list[str]
    asset: str


def _restored_row(index: int) -> RestoreRow:
    """A spread of books: collateral only, borrowers, longs, shorts and a safe mix."""
    account = "0x" + f"{0xABC000 + index:040x}"
    kind = index % 5
    if kind == 0:
        return RestoreRow(account, (500 + index) * 10**6, 0, 0, 0, 0, 0)
    if kind == 1:
        return RestoreRow(account, 1_000 * 10**6, (650 + 5 * index) * 10**6, 0, 0, 0, 0)
    if kind == 2:
        return RestoreRow(account, 200 * 10**6, 0, (1_000 + index) * 10**6, 10**8, 100 * 10**6, index * 10**14)
    if kind == 3:
        return RestoreRow(account, 300 * 10**6, 0, -(800 + index) * 10**6, 105_000_000, 80 * 10**6, -index * 10**14)
    return RestoreRow(account, 5_000 * 10**6, 100 * 10**6, 500 * 10**6, 95_000_000, 50 * 10**6, 0)


@pytest.fixture
def scenario(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, committee_account: LocalAccount) -> Scenario:
    asset = bind(w3, "DemoAsset", demo.address("asset"))
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    receipt = send(
        w3,
        deployer,
        factory(w3, "MarginMarket").constructor(
            asset.address, feed.address, deployer.address, committee_account.address, "Test credit", "tCR"
        ),
    )
    market = bind(w3, "MarginMarket", receipt["contractAddress"])
    send(w3, deployer, market.functions.grantRole(market.functions.RESTORER_ROLE().call(), deployer.address))
    rows = [_restored_row(i) for i in range(RESTORED)]
    liquidity = 10**12
    send(w3, deployer, asset.functions.mint(deployer.address, sum(r.asset_needed for r in rows) + liquidity))
    send(w3, deployer, asset.functions.approve(market.address, 2**256 - 1))
    for offset in range(0, RESTORED, 10):  # three calls, three blocks
        group = [(Web3.to_checksum_address(r.account), *r.as_tuple()[1:]) for r in rows[offset : offset + 10]]
        send(w3, deployer, market.functions.restorePositions(group))
    for index in range(HOLDERS):
        holder = holder_account(index)
        send(w3, deployer, asset.functions.mint(holder.address, 2_000 * 10**6))
        send(w3, holder, asset.functions.approve(market.address, 2**256 - 1))
        send(w3, holder, market.functions.depositCollateral(1_000 * 10**6 + index))
        send(w3, holder, market.functions.borrow((100 + 150 * index) * 10**6))
        if index < 3:
            size = (300 + index) * 10**6 * (1 if index % 2 == 0 else -1)
            send(w3, holder, market.functions.openPosition(size, 40 * 10**6))
    rollback = w3.eth.block_number

    send(w3, deployer, feed.functions.setAnswer(DROPPED_PRICE))
    send(w3, deployer, market.functions.accrueFunding(3 * 10**15))
    send(w3, deployer, market.functions.depositCollateral(liquidity))
    send(w3, deployer, market.functions.borrow(liquidity // 4))
    liquidated = []
    for row in rows:
        account = Web3.to_checksum_address(row.account)
        if market.functions.isLiquidatable(account).call():
            send(w3, deployer, market.functions.liquidate(account))
            liquidated.append(row.account)
    for index in (0, 1):
        send(w3, holder_account(index), market.functions.closePosition())
    send(w3, deployer, market.functions.accrueFunding(-(10**15)))
    return Scenario(
        market=market,
        deployed_at=receipt["blockNumber"],
        rollback=rollback,
        reference=w3.eth.block_number,
        liquidated=liquidated,
        asset=asset.address.lower(),
    )


def _every_account(w3: Web3, scenario: Scenario) -> list[str]:
    return [_restored_row(i).account for i in range(RESTORED)] + [
        holder_account(i).address.lower() for i in range(HOLDERS)
    ]


def test_rebuilt_accounts_equal_account_of_for_every_account_at_both_blocks(
    w3: Web3, scenario: Scenario, deployer: LocalAccount
) -> None:
    market = scenario.market.address
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        before = scan_accounts(rpc, market, scenario.deployed_at, scenario.rollback)
        after = scan_accounts(rpc, market, scenario.deployed_at, scenario.reference)
        both = scan_accounts_at_two_blocks(rpc, market, scenario.deployed_at, scenario.rollback, scenario.reference)
        everyone = _every_account(w3, scenario)
        read_before = read_accounts_by_call(rpc, market, everyone, scenario.rollback)
        read_after = read_accounts_by_call(rpc, market, everyone, scenario.reference)

    assert set(before) == set(everyone)
    # The liquidator (the deployer) has an account only after the rollback block.
    assert set(after) == set(everyone) | {deployer.address.lower()}
    assert before == read_before
    assert {a: after[a] for a in everyone} == read_after
    assert both == (before, after)
    assert 0 < len(scenario.liquidated) < RESTORED
    assert all(after[a].is_empty for a in scenario.liquidated)  # zero entries are kept
    assert after[holder_account(0).address.lower()].size == 0  # closed
    assert after[holder_account(2).address.lower()].size == 302 * 10**6  # still open
    assert any(account.size < 0 for account in before.values())
    assert any(account.entry_funding != 0 for account in before.values())


def test_the_liquidator_is_rebuilt_too(w3: Web3, scenario: Scenario, deployer: LocalAccount) -> None:
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        after = scan_accounts(rpc, scenario.market.address, scenario.deployed_at, scenario.reference)
        read = read_accounts_by_call(rpc, scenario.market.address, [deployer.address], scenario.reference)

    assert after[deployer.address.lower()] == read[deployer.address.lower()]
    assert after[deployer.address.lower()].debt == 10**12 // 4


def test_liquidation_events_are_parsed_exactly(w3: Web3, scenario: Scenario, deployer: LocalAccount) -> None:
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        found = scan_liquidations(rpc, scenario.market.address, scenario.deployed_at, scenario.reference)

    # web3.py's ABI decoding of the same events, as the independent reading.
    decoded = scenario.market.events.Liquidated().get_logs(from_block=scenario.deployed_at, to_block=scenario.reference)
    expected = [
        Liquidation(
            block=event["blockNumber"],
            tx_hash=event["transactionHash"].to_0x_hex(),
            log_index=event["logIndex"],
            account=event["args"]["account"].lower(),
            liquidator=event["args"]["liquidator"].lower(),
            price=event["args"]["price"],
            seized_collateral=event["args"]["seizedCollateral"],
            debt_repaid=event["args"]["debtRepaid"],
            closed_size=event["args"]["closedSize"],
            realized_pnl=event["args"]["realizedPnl"],
        )
        for event in decoded
    ]
    assert found == expected
    assert [item.account for item in found] == scenario.liquidated
    assert {item.liquidator for item in found} == {deployer.address.lower()}
    assert {item.price for item in found} == {DROPPED_PRICE}
    assert any(item.realized_pnl < 0 for item in found)
    assert any(item.closed_size != 0 for item in found)


def test_a_small_page_size_rebuilds_the_same_accounts(w3: Web3, scenario: Scenario) -> None:
    market = scenario.market.address
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        whole = scan_accounts(rpc, market, scenario.deployed_at, scenario.reference)
        paged = scan_accounts(rpc, market, scenario.deployed_at, scenario.reference, chunk=1)
        split = scan_accounts_at_two_blocks(
            rpc, market, scenario.deployed_at, scenario.rollback, scenario.reference, chunk=3
        )
        found = scan_liquidations(rpc, market, scenario.deployed_at, scenario.reference, chunk=2)

    assert paged == whole
    assert split[1] == whole
    assert split[0] == scan_accounts(w3.provider.endpoint_uri, market, scenario.deployed_at, scenario.rollback)  # type: ignore[attr-defined]
    assert len(found) == len(scenario.liquidated)


def test_the_cross_check_passes_at_the_right_block_and_catches_a_wrong_replay(w3: Web3, scenario: Scenario) -> None:
    market = scenario.market.address
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        before = scan_accounts(rpc, market, scenario.deployed_at, scenario.rollback)
        assert cross_check(rpc, market, before, scenario.rollback) == len(before)
        assert cross_check(rpc, market, before, scenario.rollback, sample=6) >= 6

        with pytest.raises(PositionMismatch, match=f"accountOf at block {scenario.reference}") as caught:
            cross_check(rpc, market, before, scenario.reference)
    assert "first 0x" in str(caught.value)


def test_the_market_state_is_read_at_the_block(w3: Web3, scenario: Scenario) -> None:
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        before = read_market_state(rpc, scenario.market.address, scenario.rollback)
        after = read_market_state(rpc, scenario.market.address, scenario.reference)

    assert (before.price, before.funding_index) == (PRICE_SCALE, 0)
    assert (after.price, after.funding_index) == (DROPPED_PRICE, 2 * 10**15)
    assert after.block_hash == w3.eth.get_block(scenario.reference)["hash"].to_0x_hex()
    assert after.chain_id == w3.eth.chain_id


def test_the_reader_values_every_account_in_the_asset_through_readers(w3: Web3, scenario: Scenario) -> None:
    reader = READERS["margin_market"]
    market = scenario.market
    outsider = "0x" + "12" * 20
    everyone = _every_account(w3, scenario)
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        assert reader.underlying(rpc, market.address, scenario.reference) == scenario.asset
        for block, price in ((scenario.rollback, PRICE_SCALE), (scenario.reference, DROPPED_PRICE)):
            positions = reader.positions(rpc, market.address, {outsider: 0, everyone[0]: 5}, block)

            assert positions[outsider] == 0
            assert set(positions) >= set(everyone) | {outsider}
            for account in everyone:
                net = market.functions.netValue(Web3.to_checksum_address(account)).call(block_identifier=block)
                assert positions[account] == max(0, net) * PRICE_SCALE // price, account
            assert all(amount >= 0 for amount in positions.values())


def test_the_reader_refuses_a_token_that_is_no_margin_market(w3: Web3, scenario: Scenario) -> None:
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        with pytest.raises(NotAnErc20, match="not a margin market"):
            READERS["margin_market"].underlying(rpc, scenario.asset, scenario.reference)
        with pytest.raises(NotAnErc20, match="no margin market"):
            read_accounts_by_call(rpc, scenario.asset, [scenario.asset], scenario.reference)


def test_the_scan_starts_at_the_market_deployment(w3: Web3, scenario: Scenario) -> None:
    with RawRpc(w3.provider.endpoint_uri) as rpc:  # type: ignore[attr-defined]
        assert deployment_block(rpc, scenario.market.address, scenario.reference) == scenario.deployed_at
        with pytest.raises(NotAnErc20, match="no contract code"):
            deployment_block(rpc, "0x" + "34" * 20, scenario.reference)
