"""MarginMarket on anvil: every action's event and state, valuation to the unit against
``chain.margin.value``, liquidation, the guardian's pause, restores on the migrated market, and
the roles the demo stack deploys it with.

Each test runs on the ``demo`` fixture (reverted afterwards); ``margin_demo`` adds the seeded
margin accounts of the test holders.
"""

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from chain.artifacts import bind, factory
from chain.demo import (
    MARGIN_KINDS,
    MARGIN_RESERVE,
    DemoDeployment,
    accrue_funding,
    holder_account,
    liquidate_all,
    margin_position,
)
from chain.errors import Reverted
from chain.margin import (
    ACCOUNT_UPDATED,
    FUNDING_SCALE,
    LIQUIDATED,
    MAX_UINT256,
    PRICE_SCALE,
    MarginAccount,
    RestoreRow,
    signed_word,
    tdiv,
    value,
)
from chain.transact import reverts_as_chain_errors, send

DUSD = 10**6
DEPOSIT, WITHDRAW, BORROW, REPAY, OPEN, CLOSE, LIQUIDATED_REASON, RESTORED = range(8)
ZERO = "0x0000000000000000000000000000000000000000"


# -- helpers ----------------------------------------------------------------------------------------


def _refused(call: Callable[[], object]) -> Reverted:
    with pytest.raises(Reverted) as refused:
        call()
    return refused.value


def _market(w3: Web3, demo: DemoDeployment, role: str = "margin_market") -> Contract:
    return bind(w3, "MarginMarket", demo.address(role))


def _asset(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "DemoAsset", demo.address("asset"))


def _user(
    w3: Web3, demo: DemoDeployment, deployer: LocalAccount, index: int, amount: int, market: str = "margin_market"
):
    """A fresh account (not a seeded holder) with gas, ``amount`` of the asset, and the market approved for it."""
    user = holder_account(1_000 + index)
    w3.provider.make_request("anvil_setBalance", [user.address, hex(10**18)])  # type: ignore[arg-type]
    asset = _asset(w3, demo)
    send(w3, deployer, asset.functions.mint(user.address, amount))
    send(w3, user, asset.functions.approve(demo.address(market), amount))
    return user


def _set_price(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, answer: int) -> None:
    send(w3, deployer, bind(w3, "DemoPriceFeed", demo.address("price_feed")).functions.setAnswer(answer))


def _state(market: Contract, account: str) -> MarginAccount:
    return MarginAccount(*market.functions.accountOf(account).call())


def _updates(receipt: TxReceipt, market: Contract) -> list[tuple[str, MarginAccount, int]]:
    """Every AccountUpdated of ``market`` in the receipt: (account, state, reason), sliced from raw words."""
    found = []
    for log in receipt["logs"]:
        if log["address"] == market.address and log["topics"][0].to_0x_hex() == ACCOUNT_UPDATED:
            data = bytes(log["data"])
            assert len(data) == 7 * 32
            account = Web3.to_checksum_address(log["topics"][1][-20:])
            found.append((account, MarginAccount.from_words(data), int.from_bytes(data[192:224], "big")))
    return found


def _only_update(receipt: TxReceipt, market: Contract, account: str, reason: int) -> MarginAccount:
    """The receipt's single AccountUpdated: for ``account``, with ``reason``, equal to ``accountOf`` now."""
    ((who, state, why),) = _updates(receipt, market)
    assert (who, why) == (account, reason)
    assert state == _state(market, account)
    return state


def _as(w3: Web3, address: str, call: object) -> TxReceipt:
    """Send ``call`` from an impersonated address (the timelock, the committee's contract roles)."""
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [address, hex(10**18)])  # type: ignore[arg-type]
    try:
        tx_hash = reverts_as_chain_errors(lambda: call.transact({"from": address}))  # type: ignore[attr-defined]
        return w3.eth.wait_for_transaction_receipt(tx_hash)
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [address])  # type: ignore[arg-type]


def _assert_views(market: Contract, account: str) -> None:
    """netValue, healthFactor and isLiquidatable equal chain.margin.value exactly at the current state."""
    expected = value(
        _state(market, account),
        price=market.functions.price().call(),
        funding_index=market.functions.fundingIndex().call(),
    )
    assert market.functions.netValue(account).call() == expected.net_value
    assert market.functions.healthFactor(account).call() == expected.health_factor
    assert market.functions.isLiquidatable(account).call() == expected.liquidatable


# -- the demo stack -----------------------------------------------------------------------------------


def test_the_demo_stack_deploys_both_markets_last_with_governance_roles(w3: Web3, demo: DemoDeployment):
    assert list(demo.contracts)[-2:] == ["margin_market", "migrated_margin_market"]
    asset = _asset(w3, demo)
    for role, symbol in (("margin_market", "lbUSD"), ("migrated_margin_market", "lbUSD2")):
        market = _market(w3, demo, role)
        f = market.functions
        assert f.symbol().call() == symbol and f.decimals().call() == 6
        assert f.asset().call() == demo.address("asset") and f.feed().call() == demo.address("price_feed")
        admin, guardian, funding, restorer = (
            f.DEFAULT_ADMIN_ROLE().call(),
            f.GUARDIAN_ROLE().call(),
            f.FUNDING_ROLE().call(),
            f.RESTORER_ROLE().call(),
        )
        timelock = demo.address("timelock")
        assert f.hasRole(admin, timelock).call() and f.hasRole(funding, timelock).call()
        assert f.hasRole(guardian, demo.committee).call()
        for role_id in (admin, funding, guardian, restorer):
            assert not f.hasRole(role_id, demo.deployer).call()
        assert f.hasRole(restorer, demo.address("recovery_executor")).call() == (role == "migrated_margin_market")
        assert not f.hasRole(admin, demo.committee).call()
        assert asset.functions.balanceOf(market.address).call() == MARGIN_RESERVE
        assert f.fundingIndex().call() == 0 and f.totalSupply().call() == 0 and not f.paused().call()
    assert _market(w3, demo).functions.name().call() == "Lifeboat USD credit"


def test_a_market_without_asset_feed_admin_or_guardian_is_refused(w3: Web3, demo: DemoDeployment, deployer):
    good = [demo.address("asset"), demo.address("price_feed"), demo.address("timelock"), demo.committee]
    for position in range(4):
        args = [ZERO if i == position else a for i, a in enumerate(good)]
        constructor = factory(w3, "MarginMarket").constructor(*args, "x", "x")
        assert _refused(lambda c=constructor: send(w3, deployer, c)).error == "ZeroAddress"


# -- holders' actions ----------------------------------------------------------------------------------


def test_deposit_borrow_open_close_repay_withdraw_each_emit_the_full_state(w3: Web3, demo: DemoDeployment, deployer):
    market = _market(w3, demo)
    user = _user(w3, demo, deployer, 1, 2_000 * DUSD)
    asset = _asset(w3, demo)
    f = market.functions

    state = _only_update(send(w3, user, f.depositCollateral(1_000 * DUSD)), market, user.address, DEPOSIT)
    assert state == MarginAccount(collateral=1_000 * DUSD)
    assert asset.functions.balanceOf(market.address).call() == MARGIN_RESERVE + 1_000 * DUSD

    state = _only_update(send(w3, user, f.borrow(300 * DUSD)), market, user.address, BORROW)
    assert state == MarginAccount(collateral=1_000 * DUSD, debt=300 * DUSD)
    assert f.balanceOf(user.address).call() == f.totalSupply().call() == 300 * DUSD

    _set_price(w3, demo, deployer, 101_234_567)
    size = 1_500 * DUSD + 7
    state = _only_update(send(w3, user, f.openPosition(size, 100 * DUSD)), market, user.address, OPEN)
    assert state == MarginAccount(1_000 * DUSD, 300 * DUSD, size, 101_234_567, 100 * DUSD, 0)
    assert asset.functions.balanceOf(user.address).call() == 900 * DUSD
    _assert_views(market, user.address)

    _set_price(w3, demo, deployer, 99_876_543)  # a loss on the long
    pnl = tdiv(size * (99_876_543 - 101_234_567), PRICE_SCALE)
    assert pnl < 0
    state = _only_update(send(w3, user, f.closePosition()), market, user.address, CLOSE)
    expected_collateral = 1_100 * DUSD + tdiv(pnl * PRICE_SCALE, 99_876_543)
    assert state == MarginAccount(collateral=expected_collateral, debt=300 * DUSD)

    state = _only_update(send(w3, user, f.repay(100 * DUSD)), market, user.address, REPAY)
    assert state.debt == 200 * DUSD and f.balanceOf(user.address).call() == f.totalSupply().call() == 200 * DUSD

    state = _only_update(send(w3, user, f.withdrawCollateral(500 * DUSD)), market, user.address, WITHDRAW)
    assert state == MarginAccount(collateral=expected_collateral - 500 * DUSD, debt=200 * DUSD)
    assert asset.functions.balanceOf(user.address).call() == 1_400 * DUSD
    _assert_views(market, user.address)


def test_actions_that_would_leave_the_account_liquidatable_are_refused(w3: Web3, demo: DemoDeployment, deployer):
    market = _market(w3, demo)
    f = market.functions
    user = _user(w3, demo, deployer, 2, 2_000 * DUSD)
    send(w3, user, f.depositCollateral(1_000 * DUSD))
    # 80% of 1,000 dUSD at a price of 1: exactly 800 credit is the line; one unit more is over it.
    assert _refused(lambda: send(w3, user, f.borrow(800 * DUSD + 1))).error == "Unhealthy"
    send(w3, user, f.borrow(800 * DUSD))
    assert f.healthFactor(user.address).call() == 10**18 and not f.isLiquidatable(user.address).call()
    assert _refused(lambda: send(w3, user, f.borrow(1))).error == "Unhealthy"
    assert _refused(lambda: send(w3, user, f.withdrawCollateral(1))).error == "Unhealthy"
    refused = _refused(lambda: send(w3, user, f.withdrawCollateral(1_000 * DUSD + 1)))
    assert (refused.error, refused.args_) == ("InsufficientCollateral", (1_000 * DUSD, 1_000 * DUSD + 1))
    # A position needs its maintenance margin on top: none is left here without new margin.
    assert _refused(lambda: send(w3, user, f.openPosition(10 * DUSD, 0))).error == "Unhealthy"
    send(w3, user, f.openPosition(10 * DUSD, 1 * DUSD))
    assert _refused(lambda: send(w3, user, f.openPosition(10 * DUSD, 1 * DUSD))).error == "PositionOpen"
    refused = _refused(lambda: send(w3, user, f.repay(800 * DUSD + 1)))
    assert (refused.error, refused.args_) == ("RepayExceedsDebt", (800 * DUSD, 800 * DUSD + 1))
    for call in (f.depositCollateral(0), f.borrow(0), f.repay(0), f.withdrawCollateral(0), f.openPosition(0, 0)):
        assert _refused(lambda c=call: send(w3, user, c)).error == "ZeroAmount"
    other = _user(w3, demo, deployer, 3, DUSD)
    assert _refused(lambda: send(w3, other, f.closePosition())).error == "NoPosition"


# -- valuation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1_234_567_891, -987_654_321])
def test_views_equal_the_python_valuation_to_the_unit(w3: Web3, demo: DemoDeployment, deployer, size: int):
    """Long and short, in profit and loss, with funding either way, at prices that leave remainders."""
    market = _market(w3, demo)
    f = market.functions
    user = _user(w3, demo, deployer, 4, 5_000 * DUSD)
    send(w3, user, f.depositCollateral(3_000 * DUSD + 333))
    send(w3, user, f.borrow(700 * DUSD + 1))
    _set_price(w3, demo, deployer, 100_000_003)
    send(w3, user, f.openPosition(size, 250 * DUSD + 17))
    truncated = False
    for delta in (0, 333_333_333_333_333, -777_777_777_777_777_777):
        if delta:
            accrue_funding(w3, demo, delta=delta)
        for answer in (100_000_003, 100_000_002, 100_000_004, 99_999_999, 80_000_001, 123_456_789, 55_555_555):
            _set_price(w3, demo, deployer, answer)
            _assert_views(market, user.address)
            product = size * (answer - 100_000_003)
            truncated |= (
                product < 0 and product % PRICE_SCALE != 0 and tdiv(product, PRICE_SCALE) != (product // PRICE_SCALE)
            )
    assert truncated, "no price exercised a negative pnl that truncation and flooring disagree on"
    assert f.fundingIndex().call() == 333_333_333_333_333 - 777_777_777_777_777_777


def test_closing_settles_pnl_and_funding_into_collateral_with_truncation(w3: Web3, demo: DemoDeployment, deployer):
    market = _market(w3, demo)
    f = market.functions
    cases = [  # size, close price, funding delta
        (1_000_000_007, 100_000_001, 0),  # long, tiny profit
        (-1_000_000_007, 100_000_001, 0),  # short, tiny loss: truncates toward zero
        (2_500 * DUSD + 3, 73_333_333, 10**15 + 1),  # long, loss and funding owed
        (-2_500 * DUSD - 3, 73_333_333, 10**15 + 1),  # short, profit and funding received
    ]
    for index, (size, close_price, delta) in enumerate(cases):
        _set_price(w3, demo, deployer, 10**8)
        user = _user(w3, demo, deployer, 10 + index, 2_000 * DUSD)
        send(w3, user, f.depositCollateral(1_000 * DUSD))
        send(w3, user, f.openPosition(size, 500 * DUSD))
        if delta:
            accrue_funding(w3, demo, delta=delta)
        _set_price(w3, demo, deployer, close_price)
        before = _state(market, user.address)
        valued = value(before, price=close_price, funding_index=f.fundingIndex().call())
        realized = valued.pnl - valued.funding
        state = _only_update(send(w3, user, f.closePosition()), market, user.address, CLOSE)
        assert state == MarginAccount(collateral=1_500 * DUSD + tdiv(realized * PRICE_SCALE, close_price))


def test_a_loss_beyond_collateral_and_margin_leaves_zero_collateral(w3: Web3, demo: DemoDeployment, deployer):
    market = _market(w3, demo)
    f = market.functions
    user = _user(w3, demo, deployer, 20, 200 * DUSD)
    send(w3, user, f.depositCollateral(100 * DUSD))
    send(w3, user, f.openPosition(1_000 * DUSD, 100 * DUSD))
    _set_price(w3, demo, deployer, 50_000_000)  # a 500 dUSD loss against 200 dUSD held
    state = _only_update(send(w3, user, f.closePosition()), market, user.address, CLOSE)
    assert state == MarginAccount()


# -- liquidation ------------------------------------------------------------------------------------------


def test_the_seeded_spread_is_healthy_at_par_and_a_third_falls_at_eighty_cents(w3: Web3, margin_demo, deployer):
    demo, accounts = margin_demo
    market = _market(w3, demo)
    kinds = set()
    for index, account in enumerate(accounts):
        collateral, debt, size, margin = margin_position(index)
        assert _state(market, account) == MarginAccount(collateral, debt, size, 10**8 if size else 0, margin, 0)
        assert not market.functions.isLiquidatable(account).call()
        _assert_views(market, account)
        kinds.add((debt > 0, (size > 0) - (size < 0)))
    assert kinds >= {(False, 0), (True, 0), (True, 1), (False, 1), (True, -1)}
    _set_price(w3, demo, deployer, 80_000_000)
    due = [i for i, a in enumerate(accounts) if market.functions.isLiquidatable(a).call()]
    assert due == [i for i in range(len(accounts)) if i % MARGIN_KINDS in (2, 3)]
    assert 0 < len(due) < len(accounts)
    for account in accounts:
        _assert_views(market, account)


def test_liquidation_repays_the_debt_closes_the_position_and_pays_the_collateral(
    w3: Web3, margin_demo, deployer, attacker: LocalAccount
):
    demo, accounts = margin_demo
    market = _market(w3, demo)
    f = market.functions
    asset = _asset(w3, demo)
    victim = accounts[3]  # a leveraged long
    assert _refused(lambda: send(w3, attacker, f.liquidate(victim))).error == "NotLiquidatable"
    # The liquidator's credit comes the market's own way: a healthy account of its own.
    liquidator = _user(w3, demo, deployer, 30, 100_000 * DUSD)
    send(w3, liquidator, f.depositCollateral(100_000 * DUSD))
    send(w3, liquidator, f.borrow(10_000 * DUSD))
    price = 80_000_000
    _set_price(w3, demo, deployer, price)
    before = _state(market, victim)
    valued = value(before, price=price, funding_index=0)
    assert valued.liquidatable and before.size > 0
    realized = valued.pnl - valued.funding
    seized = max(0, before.collateral + before.margin + tdiv(realized * PRICE_SCALE, price))
    supply = f.totalSupply().call()

    receipt = send(w3, liquidator, f.liquidate(victim))

    assert _only_update(receipt, market, victim, LIQUIDATED_REASON) == MarginAccount()
    logs = [log for log in receipt["logs"] if log["address"] == market.address]
    topics = [log["topics"][0].to_0x_hex() for log in logs]
    assert topics.index(ACCOUNT_UPDATED) < topics.index(LIQUIDATED)
    event = logs[topics.index(LIQUIDATED)]
    assert Web3.to_checksum_address(event["topics"][1][-20:]) == victim
    assert Web3.to_checksum_address(event["topics"][2][-20:]) == liquidator.address
    data = bytes(event["data"])
    words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]
    assert len(words) == 5
    assert words[:3] == [price, seized, before.debt]
    assert [signed_word(words[3]), signed_word(words[4])] == [before.size, realized]
    assert realized < 0 < seized
    assert asset.functions.balanceOf(liquidator.address).call() == seized
    assert f.balanceOf(liquidator.address).call() == 10_000 * DUSD - before.debt
    assert f.totalSupply().call() == supply - before.debt
    assert not f.isLiquidatable(victim).call()
    assert _refused(lambda: send(w3, liquidator, f.liquidate(victim))).error == "NotLiquidatable"


def test_liquidate_all_takes_exactly_the_liquidatable_accounts(w3: Web3, margin_demo, deployer, attacker):
    demo, accounts = margin_demo
    market = _market(w3, demo)
    assert liquidate_all(w3, demo, liquidator=attacker, accounts=accounts, deployer=deployer) == []
    _set_price(w3, demo, deployer, 80_000_000)
    due = [a for a in accounts if market.functions.isLiquidatable(a).call()]
    untouched = {a: _state(market, a) for a in accounts if a not in due}
    hashes = liquidate_all(w3, demo, liquidator=attacker, accounts=accounts, deployer=deployer)
    assert len(hashes) == len(due)
    liquidated = []
    for tx_hash in hashes:
        receipt = w3.eth.get_transaction_receipt(tx_hash)
        ((account, state, reason),) = _updates(receipt, market)
        assert (state, reason) == (MarginAccount(), LIQUIDATED_REASON)
        liquidated.append(account)
    assert liquidated == due
    assert {a: _state(market, a) for a in untouched} == untouched
    assert not any(market.functions.isLiquidatable(a).call() for a in accounts)


def test_the_guardian_pause_stops_liquidations_only(w3: Web3, margin_demo, deployer, committee_account, attacker):
    demo, accounts = margin_demo
    market = _market(w3, demo)
    f = market.functions
    for outsider in (attacker, deployer):
        refused = _refused(lambda o=outsider: send(w3, o, f.pause()))
        assert refused.error == "AccessControlUnauthorizedAccount"
    assert _refused(lambda: _as(w3, demo.address("timelock"), f.pause())).error == "AccessControlUnauthorizedAccount"
    send(w3, committee_account, f.pause())
    assert f.paused().call()
    _set_price(w3, demo, deployer, 80_000_000)
    liquidator = _user(w3, demo, deployer, 40, 100_000 * DUSD)
    send(w3, liquidator, f.depositCollateral(50_000 * DUSD))
    send(w3, liquidator, f.borrow(20_000 * DUSD))  # borrowing still works while paused
    assert _refused(lambda: send(w3, liquidator, f.liquidate(accounts[2]))).error == "EnforcedPause"
    # Holders keep every other action: repay, add collateral, close.
    holder = holder_account(3)
    send(w3, holder, f.closePosition())
    send(w3, holder, f.repay(1))
    send(w3, liquidator, f.withdrawCollateral(DUSD))
    assert _refused(lambda: send(w3, attacker, f.unpause())).error == "AccessControlUnauthorizedAccount"
    send(w3, committee_account, f.unpause())
    receipt = send(w3, liquidator, f.liquidate(accounts[2]))
    assert _updates(receipt, market)[0][2] == LIQUIDATED_REASON


def test_funding_moves_only_by_the_funding_role(w3: Web3, demo: DemoDeployment, deployer, committee_account):
    market = _market(w3, demo)
    f = market.functions
    for outsider in (deployer, committee_account):
        refused = _refused(lambda o=outsider: send(w3, o, f.accrueFunding(1)))
        assert refused.error == "AccessControlUnauthorizedAccount"
    receipt = _as(w3, demo.address("timelock"), f.accrueFunding(-5))
    (event,) = market.events.FundingAccrued().process_receipt(receipt)
    assert (event["args"]["delta"], event["args"]["index"]) == (-5, -5)
    assert f.fundingIndex().call() == -5


# -- restore on the migrated market ------------------------------------------------------------------------


def _restorer(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, amount: int) -> LocalAccount:
    """A fresh account the timelock (the migrated market's admin) made a restorer, funded and approved."""
    restorer = _user(w3, demo, deployer, 50, amount, market="migrated_margin_market")
    migrated = _market(w3, demo, "migrated_margin_market")
    _as(
        w3,
        demo.address("timelock"),
        migrated.functions.grantRole(migrated.functions.RESTORER_ROLE().call(), restorer.address),
    )
    return restorer


def test_restore_recreates_accounts_and_carries_funding_over(w3: Web3, margin_demo, deployer):
    demo, accounts = margin_demo
    old, new = _market(w3, demo), _market(w3, demo, "migrated_margin_market")
    accrue_funding(w3, demo, delta=12_345_678_901_234_567)
    accrue_funding(w3, demo, delta=-4_000_000_000_000_000_003, market="migrated_margin_market")
    old_index, new_index = old.functions.fundingIndex().call(), new.functions.fundingIndex().call()
    chosen = accounts[:6]  # one of each kind
    rows = [RestoreRow.from_account(a, _state(old, a), funding_index=old_index) for a in chosen]
    total = sum(r.asset_needed for r in rows)
    restorer = _restorer(w3, demo, deployer, total + 5)
    asset = _asset(w3, demo)
    held = asset.functions.balanceOf(new.address).call()

    receipt = send(w3, restorer, new.functions.restorePositions([r.as_tuple() for r in rows]))

    assert asset.functions.balanceOf(restorer.address).call() == 5
    assert asset.functions.balanceOf(new.address).call() == held + total
    assert new.functions.totalSupply().call() == 0  # no credit minted: borrowers kept theirs
    updates = _updates(receipt, new)
    assert [(a, r) for a, _, r in updates] == [(a, RESTORED) for a in chosen]
    _set_price(w3, demo, deployer, 87_654_321)
    for (account, state, _), row in zip(updates, rows, strict=True):
        assert state == _state(new, account)
        assert state.entry_funding == new_index - row.funding_debt
        assert (state.collateral, state.debt, state.size, state.entry_price, state.margin) == (
            row.collateral,
            row.debt,
            row.size,
            row.entry_price,
            row.margin,
        )
        # Same book, same funding owed: the two markets value the account identically.
        assert new.functions.netValue(account).call() == old.functions.netValue(account).call()
        assert new.functions.healthFactor(account).call() == old.functions.healthFactor(account).call()
        _assert_views(new, account)
    assert any(row.size and row.funding_debt for row in rows)


def test_restore_needs_the_restorer_role_and_empty_accounts(
    w3: Web3, demo: DemoDeployment, deployer, committee_account
):
    new = _market(w3, demo, "migrated_margin_market")
    f = new.functions
    row = RestoreRow(holder_account(0).address, 10 * DUSD, 3 * DUSD, 5 * DUSD, 10**8, DUSD, 7)
    for outsider in (deployer, committee_account):
        refused = _refused(lambda o=outsider: send(w3, o, f.restorePositions([row.as_tuple()])))
        assert refused.error == "AccessControlUnauthorizedAccount"
        assert refused.args_[1] == f.RESTORER_ROLE().call()
    # The live market has no restorer at all, not even the executor.
    live = _market(w3, demo)
    executor = demo.address("recovery_executor")
    assert _refused(lambda: _as(w3, executor, live.functions.restorePositions([]))).error == (
        "AccessControlUnauthorizedAccount"
    )
    restorer = _restorer(w3, demo, deployer, 100 * DUSD)
    refused = _refused(lambda: send(w3, restorer, f.restorePositions([row.as_tuple(), row.as_tuple()])))
    assert (refused.error, refused.args_) == ("AccountNotEmpty", (row.account,))
    nobody = RestoreRow(ZERO, DUSD, 0, 0, 0, 0, 0)
    assert _refused(lambda: send(w3, restorer, f.restorePositions([nobody.as_tuple()]))).error == "ZeroAddress"
    send(w3, restorer, f.restorePositions([row.as_tuple()]))
    refused = _refused(lambda: send(w3, restorer, f.restorePositions([row.as_tuple()])))
    assert (refused.error, refused.args_) == ("AccountNotEmpty", (row.account,))
    # An account already active on the migrated market is not overwritten either.
    user = _user(w3, demo, deployer, 60, DUSD, market="migrated_margin_market")
    send(w3, user, f.depositCollateral(DUSD))
    other = RestoreRow(user.address, DUSD, 0, 0, 0, 0, 0)
    refused = _refused(lambda: send(w3, restorer, f.restorePositions([other.as_tuple()])))
    assert (refused.error, refused.args_) == ("AccountNotEmpty", (user.address,))
    # The executor itself holds the role on the migrated market and restores with its own asset.
    asset = _asset(w3, demo)
    fresh = RestoreRow(holder_account(1).address, 2 * DUSD, 0, 0, 0, 0, 0)
    send(w3, deployer, asset.functions.mint(executor, fresh.asset_needed))
    _as(w3, executor, asset.functions.approve(new.address, fresh.asset_needed))
    receipt = _as(w3, executor, f.restorePositions([fresh.as_tuple()]))
    assert _only_update(receipt, new, fresh.account, RESTORED) == MarginAccount(collateral=2 * DUSD)
    assert asset.functions.balanceOf(executor).call() == 0


def test_health_factor_is_max_for_an_empty_account(w3: Web3, demo: DemoDeployment):
    market = _market(w3, demo)
    nobody = holder_account(999).address
    assert market.functions.healthFactor(nobody).call() == MAX_UINT256
    assert market.functions.netValue(nobody).call() == 0
    assert not market.functions.isLiquidatable(nobody).call()
    assert FUNDING_SCALE == 10**18
