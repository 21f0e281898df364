"""Margin impact rows store signed and 256-bit values exactly (issue 16, part 3).

The model round-trips; on anvil, the valuation service (recovery/margin_impact.py) values every
account exactly as the market's own views do at both blocks, and flags a liquidation as unfair only
when a monitor's oracle firing covers its block.
"""

import pytest
from web3.logs import DISCARD

from recovery.fields import INT256_MIN, UINT256_MAX
from recovery.models import ImpactAnalysis, Incident, MarginAccountImpact, MarginLiquidation

pytestmark = pytest.mark.django_db


def _analysis() -> ImpactAnalysis:
    incident = Incident.objects.create(
        title="margin", kind=Incident._meta.get_field("kind").choices[0][0], chain_id=31337
    )
    return ImpactAnalysis.objects.create(incident=incident, rollback_block=10, reference_block=20)


def test_margin_rows_round_trip_signed_values_exactly() -> None:
    analysis = _analysis()
    under_water = -(10**30) - 1
    MarginAccountImpact.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "22" * 20,
        net_value_before=under_water,
        net_value_after=INT256_MIN,
        lost_net_value=under_water - INT256_MIN,
        health_factor_before=UINT256_MAX,
        pnl_before=-7,
        collateral_before=10**24 + 1,
        debt_before=3,
        liquidated=True,
    )
    MarginLiquidation.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "22" * 20,
        liquidator="0x" + "33" * 20,
        block=15,
        tx_hash="0x" + "ab" * 32,
        log_index=2,
        price=80_000_000,
        seized_collateral=10**18 + 1,
        debt_repaid=5,
        closed_size=-(10**20) - 3,
        realized_pnl=-1,
        penalty=-(10**18),
    )
    row = MarginAccountImpact.objects.get(analysis=analysis)
    assert (row.net_value_before, row.net_value_after, row.health_factor_before) == (
        under_water,
        INT256_MIN,
        UINT256_MAX,
    )
    assert row.lost_net_value == under_water - INT256_MIN and row.collateral_before == 10**24 + 1
    liq = analysis.margin_liquidations.get()
    assert (liq.closed_size, liq.seized_collateral, liq.penalty, liq.unfair_firing) == (
        -(10**20) - 3,
        10**18 + 1,
        -(10**18),
        None,
    )
    # Signed order survives SQLite's offset text encoding.
    MarginAccountImpact.objects.create(
        analysis=analysis,
        market="0x" + "11" * 20,
        account="0x" + "44" * 20,
        net_value_before=5,
        net_value_after=0,
        lost_net_value=5,
        health_factor_before=0,
        pnl_before=0,
        collateral_before=0,
        debt_before=0,
    )
    assert list(MarginAccountImpact.objects.filter(net_value_before__lt=0).values_list("account", flat=True)) == [
        "0x" + "22" * 20
    ]


# --- on anvil: the valuation service against the market's own views ------------------------------

FUNDING_BEFORE = 2 * 10**15  # accrued before the rollback block
FUNDING_AFTER = 5 * 10**15  # accrued after it: the reference block's valuation must see it
WRONG_PRICE = 80_000_000


@pytest.fixture
def wrong_price(w3, anvil, margin_demo, deployer, timelock, chain_settings):
    """Funding accrued, the rollback block; the feed dropped to 0.80, every liquidatable account
    liquidated, more funding: the reference block."""
    from chain.artifacts import bind
    from chain.demo import liquidate_all
    from chain.transact import send

    demo, accounts = margin_demo
    market = bind(w3, "MarginMarket", demo.address("margin_market"))
    w3.eth.wait_for_transaction_receipt(market.functions.accrueFunding(FUNDING_BEFORE).transact({"from": timelock}))
    rollback = w3.eth.block_number
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    send(w3, deployer, feed.functions.setAnswer(WRONG_PRICE))
    hashes = liquidate_all(w3, demo, liquidator=deployer, accounts=accounts)
    assert hashes, "the price drop should make some seeded accounts liquidatable"
    w3.eth.wait_for_transaction_receipt(market.functions.accrueFunding(FUNDING_AFTER).transact({"from": timelock}))
    return {
        "demo": demo,
        "accounts": accounts,
        "market": market,
        "rollback": rollback,
        "reference": w3.eth.block_number,
        "liquidations": hashes,
        "liquidator": deployer.address,
        "from_block": demo.contracts["margin_market"].block,
    }


def _compute(anvil, w3, wrong_price) -> ImpactAnalysis:
    from recovery import impact

    market = wrong_price["market"].address
    incident = impact.open_incident(
        title="Margin market liquidated at a wrong price", kind="oracle_failure", chain_id=w3.eth.chain_id
    )
    analysis = impact.request_impact(
        incident_id=incident.pk,
        rpc_url=anvil.url,
        rollback_block=wrong_price["rollback"],
        reference_block=wrong_price["reference"],
        from_block=wrong_price["from_block"],
        assets=[market],
        positions={market: "margin_market"},
        confirmation_depth=0,
    )
    return impact.compute_impact(analysis_id=analysis.pk, rpc_url=anvil.url)


def _oracle_firing(w3, *, first_block: int, last_block: int, incident=None):
    """A real Firing row of an oracle rule on the test chain covering ``first_block``..``last_block``."""
    from monitoring.models import Firing, Rule, RuleKind, WatchedDeployment

    watched = WatchedDeployment.objects.create(
        name=f"demo-{first_block}-{last_block}", chain_id=w3.eth.chain_id, rpc_url="http://127.0.0.1:1"
    )
    rule = Rule.objects.create(watched=watched, name="feed-deviation", kind=RuleKind.ORACLE_DEVIATION)
    return Firing.objects.create(
        rule=rule,
        cause="deviation",
        message="the feed deviates 20% from the reference feed",
        first_block=first_block,
        last_block=last_block,
        incident=incident,
    )


def _views(market, account: str, block: int) -> tuple[int, int]:
    return (
        market.functions.netValue(account).call(block_identifier=block),
        market.functions.healthFactor(account).call(block_identifier=block),
    )


@pytest.mark.django_db(transaction=True)
def test_every_account_is_valued_exactly_as_the_market_values_it_at_both_blocks(anvil, w3, wrong_price):
    from recovery.models import AnalysisStatus

    market = wrong_price["market"]
    analysis = _compute(anvil, w3, wrong_price)
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error

    rows = {row.account: row for row in MarginAccountImpact.objects.filter(analysis=analysis)}
    # Every seeded holder, and the liquidator, who borrowed its credit from the market after the rollback block.
    assert set(rows) == {*wrong_price["accounts"], wrong_price["liquidator"]}
    for account, row in rows.items():
        assert (row.net_value_before, row.health_factor_before) == _views(market, account, wrong_price["rollback"])
        assert (row.net_value_after, row.health_factor_after) == _views(market, account, wrong_price["reference"])
        assert row.lost_net_value == row.net_value_before - row.net_value_after
        collateral, debt, *_ = market.functions.accountOf(account).call(block_identifier=wrong_price["rollback"])
        assert (row.collateral_before, row.debt_before, row.market) == (collateral, debt, market.address)
    # Funding moved between the blocks and a long's funding is part of its value: exactness covers it.
    assert any(row.pnl_before != 0 for row in rows.values())

    # The position rows (the margin_market reader's net values in asset units) come from the same single
    # scan, and equal what the reader computes on its own at each block.
    from chain.logs import RawRpc
    from chain.positions import READERS
    from recovery.models import AccountImpact, ImpactKind

    with RawRpc(anvil.url) as rpc:
        direct = [
            READERS["margin_market"].positions(rpc, market.address, {}, wrong_price[block])
            for block in ("rollback", "reference")
        ]
    stored = {
        impact.account.lower(): (int(impact.before), int(impact.after))
        for impact in AccountImpact.objects.filter(analysis=analysis, kind=ImpactKind.POSITION)
    }
    assert stored and any(before != after for before, after in stored.values())
    for account in set(direct[0]) | set(direct[1]) | set(stored):
        assert stored.get(account, (0, 0)) == (direct[0].get(account, 0), direct[1].get(account, 0)), account

    # The liquidations are the Liquidated events, each penalty exact in integers.
    events = [
        event
        for tx_hash in wrong_price["liquidations"]
        for event in market.events.Liquidated().process_receipt(w3.eth.get_transaction_receipt(tx_hash), errors=DISCARD)
    ]
    stored = list(MarginLiquidation.objects.filter(analysis=analysis))
    assert len(stored) == len(events) > 0
    for liquidation, event in zip(stored, events, strict=True):
        args = event.args
        assert (liquidation.account, liquidation.liquidator, liquidation.block, liquidation.tx_hash) == (
            args.account,
            args.liquidator,
            event.blockNumber,
            event.transactionHash.to_0x_hex(),
        )
        assert (liquidation.price, liquidation.seized_collateral, liquidation.debt_repaid) == (
            args.price,
            args.seizedCollateral,
            args.debtRepaid,
        )
        assert (liquidation.closed_size, liquidation.realized_pnl) == (args.closedSize, args.realizedPnl)
        assert liquidation.penalty == args.seizedCollateral * args.price // 10**8 - args.debtRepaid
        assert liquidation.unfair_firing is None  # no monitor flagged anything
        assert rows[liquidation.account].liquidated and rows[liquidation.account].net_value_after == 0
    assert {a for a, r in rows.items() if r.liquidated} == {e.args.account for e in events}

    section = analysis.summary["margin"][market.address]
    assert section["accounts"] == len(rows) and section["liquidations"] == len(events)
    assert section["unfair_liquidations"] == [] and len(section["fair_liquidations"]) == len(events)
    assert section["total_lost_net_value"] == str(sum(r.lost_net_value for r in rows.values() if r.lost_net_value > 0))
    assert section["price_before"] == "100000000" and section["price_after"] == str(WRONG_PRICE)
    assert section["funding_index_after"] == str(FUNDING_BEFORE + FUNDING_AFTER)


@pytest.mark.django_db(transaction=True)
def test_a_liquidation_is_unfair_only_when_an_oracle_firing_covers_its_block(anvil, w3, wrong_price):
    market = wrong_price["market"]
    blocks = sorted({w3.eth.get_transaction_receipt(h)["blockNumber"] for h in wrong_price["liquidations"]})
    assert len(blocks) > 1, "the liquidations should span blocks so a firing can cover some of them"
    covered = blocks[:-1]
    firing = _oracle_firing(w3, first_block=wrong_price["rollback"] + 1, last_block=covered[-1])
    # Another chain's firing covering every block, and a non-oracle rule's: neither makes a liquidation unfair.
    from monitoring.models import Firing, Rule, RuleKind, WatchedDeployment

    elsewhere = WatchedDeployment.objects.create(name="other-chain", chain_id=1, rpc_url="http://127.0.0.1:1")
    Firing.objects.create(
        rule=Rule.objects.create(watched=elsewhere, name="feed-jump", kind=RuleKind.ORACLE_JUMP),
        cause="jump",
        first_block=0,
        last_block=blocks[-1],
    )
    Firing.objects.create(
        rule=Rule.objects.create(watched=firing.rule.watched, name="drain", kind=RuleKind.DRAIN),
        cause="drain",
        first_block=0,
        last_block=blocks[-1],
    )

    analysis = _compute(anvil, w3, wrong_price)

    stored = list(MarginLiquidation.objects.filter(analysis=analysis))
    unfair = [row for row in stored if row.block in covered]
    assert unfair and len(unfair) < len(stored)
    for row in stored:
        assert row.unfair_firing_id == (firing.pk if row.block in covered else None)
    section = analysis.summary["margin"][market.address]
    assert [entry["tx_hash"] for entry in section["unfair_liquidations"]] == [row.tx_hash for row in unfair]
    assert [entry["tx_hash"] for entry in section["fair_liquidations"]] == [
        row.tx_hash for row in stored if row.block not in covered
    ]
    first = section["unfair_liquidations"][0]
    assert first == {
        "account": unfair[0].account,
        "liquidator": unfair[0].liquidator,
        "block": unfair[0].block,
        "tx_hash": unfair[0].tx_hash,
        "log_index": unfair[0].log_index,
        "price": str(WRONG_PRICE),
        "debt_repaid": str(unfair[0].debt_repaid),
        "penalty": str(unfair[0].penalty),
        "lost_collateral": str(unfair[0].seized_collateral),
        "firing": firing.pk,
        "rule": "feed-deviation",
        "rule_kind": "oracle_deviation",
    }
    assert section["unfair_penalty_total"] == str(sum(row.penalty for row in unfair))

    # The analysis page shows the unfair liquidations in their own table, apart from the others.
    import html

    from django.test import Client
    from django.urls import reverse

    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(committee=True))
    page = html.unescape(client.get(reverse("committee-analysis", args=[analysis.pk])).content.decode())
    unfair_table = page.split('data-testid="unfair-liquidations"')[1].split("</table>")[0]
    fair_table = page.split('data-testid="fair-liquidations"')[1].split("</table>")[0]
    assert all(row.tx_hash in unfair_table and row.tx_hash not in fair_table for row in unfair)
    assert all(row.tx_hash in fair_table for row in stored if row.block not in covered)
    assert f"{firing.pk} (feed-deviation)" in unfair_table and "0.8" in unfair_table
    accounts_table = page.split('data-testid="margin-accounts"')[1].split("</table>")[0]
    for row in MarginAccountImpact.objects.filter(analysis=analysis, liquidated=True):
        assert row.account in accounts_table
    assert "Unfair liquidations" in page and "Net value before" in page


@pytest.mark.django_db(transaction=True)
def test_a_book_that_moved_without_events_fails_the_analysis(anvil, w3, wrong_price):
    """One account's collateral rewritten in the market's storage (no AccountUpdated): the sample read
    with accountOf at the reference block disagrees with the events, and the analysis fails."""
    from eth_abi import encode
    from eth_utils import keccak

    from recovery.models import AnalysisStatus

    market = wrong_price["market"]
    account = next(a for a in wrong_price["accounts"] if market.functions.accountOf(a).call()[0] > 0)
    collateral = market.functions.accountOf(account).call()[0]
    # The Account struct's first word (collateral) sits at keccak(account . slot of the mapping).
    keys = [keccak(encode(["address", "uint256"], [account, slot])) for slot in range(32)]
    key = next(k for k in keys if int.from_bytes(w3.eth.get_storage_at(market.address, k), "big") == collateral)
    w3.provider.make_request(
        "anvil_setStorageAt", [market.address, "0x" + key.hex(), "0x" + (collateral + 1).to_bytes(32, "big").hex()]
    )
    w3.provider.make_request("evm_mine", [])
    assert market.functions.accountOf(account).call()[0] == collateral + 1
    wrong_price = {**wrong_price, "reference": w3.eth.block_number}

    from chain.margin_positions import PositionMismatch

    with pytest.raises(PositionMismatch):
        _compute(anvil, w3, wrong_price)
    analysis = ImpactAnalysis.objects.get()
    assert analysis.status == AnalysisStatus.FAILED
    assert "differ from accountOf at block" in analysis.error
    assert not MarginAccountImpact.objects.filter(analysis=analysis).exists()
