"""Restore-positions plans: built from the old market's book at the rollback block, committed
exactly as OpenZeppelin's StandardMerkleTree would, refused cleanly when they cannot be run.

The chain tests run the real MarginMarket pair of the demo stack on anvil: positions seeded, the
price dropped through the feed's owner and the liquidatable accounts liquidated; every row of the
plan is compared with ``accountOf`` at the rollback block.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from rest_framework.test import APIClient

from chain.margin import RestoreRow
from recovery import positions_plan
from recovery.commitment import BATCH_LEAF_ENCODING, CommitmentDomain
from recovery.exceptions import InvalidInput
from tests.factories import UserFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE = REPO_ROOT / "tests" / "js" / "merkle_oracle.mjs"
POSITION = "(address,uint256,uint256,int256,uint256,uint256,int256)"


def js_tree(values: list[list[Any]]) -> dict[str, Any]:
    """@openzeppelin/merkle-tree's StandardMerkleTree over ``values`` (uints as decimal strings), through Node."""
    request = {
        "op": "of",
        "values": [[str(v) if isinstance(v, int) else v for v in value] for value in values],
        "encoding": list(BATCH_LEAF_ENCODING),
        "withProofs": True,
    }
    result = subprocess.run(
        ["node", str(ORACLE)], input=json.dumps(request), capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def content_hash(venue: str, rows: list[dict[str, str]]) -> str:
    """keccak256(abi.encode(venue, rows)) computed here from the stored rows, not through chain.margin."""
    tuples = [
        (
            to_checksum_address(r["account"]),
            int(r["collateral"]),
            int(r["debt"]),
            int(r["size"]),
            int(r["entry_price"]),
            int(r["margin"]),
            int(r["funding_debt"]),
        )
        for r in rows
    ]
    return "0x" + keccak(encode(["address", f"{POSITION}[]"], [venue, tuples])).hex()


def _row(i: int, *, short: bool = False) -> RestoreRow:
    return RestoreRow(
        account=to_checksum_address(f"0x{i + 1:040x}"),
        collateral=1_000_000 * (i + 1),
        debt=500_000 * i,
        size=(-1 if short else 1) * 2_000_000 * (i + 1),
        entry_price=100_000_000 - i,
        margin=250_000 * (i % 3),
        funding_debt=-(10**15) * i if short else 10**15 * i,
    )


def test_batches_stay_under_the_gas_ceiling_and_keep_every_row_once_in_order():
    rows = [_row(i, short=i % 2 == 1) for i in range(11)]
    ceiling = positions_plan.GAS_POSITION_BASE + 3 * positions_plan.GAS_PER_POSITION
    batches = positions_plan.plan_position_batches(rows, gas_ceiling=ceiling)
    assert [len(b.rows) for b in batches] == [3, 3, 3, 2]
    assert [b.index for b in batches] == [0, 1, 2, 3]
    assert [row for b in batches for row in b.rows] == rows
    assert all(positions_plan.estimate_position_gas(len(b.rows)) <= ceiling for b in batches)
    assert batches[0].total == sum(r.collateral + r.margin for r in rows[:3])
    with pytest.raises(InvalidInput) as refused:
        positions_plan.plan_position_batches(rows, gas_ceiling=ceiling - 3 * positions_plan.GAS_PER_POSITION)
    assert refused.value.detail["field"] == "gas_ceiling"


def test_the_commitment_is_openzeppelins_standard_merkle_tree_over_the_encoded_rows():
    rows = [_row(i, short=i % 3 == 0) for i in range(7)]
    venue = to_checksum_address("0x" + "ab" * 20)
    domain = CommitmentDomain(31337, to_checksum_address("0x" + "cd" * 20), 2**255 + 12345)
    batches = positions_plan.plan_position_batches(
        rows, gas_ceiling=positions_plan.GAS_POSITION_BASE + 2 * positions_plan.GAS_PER_POSITION
    )
    tree = positions_plan.build_positions_commitment(batches, domain=domain, venue=venue)
    values = [
        [
            domain.chain_id,
            domain.recovery_executor,
            domain.plan_id,
            batch.index,
            content_hash(venue, [positions_plan.row_json(r) for r in batch.rows]),
        ]
        for batch in batches
    ]
    reference = js_tree(values)
    assert tree.root == reference["root"]
    assert [tree.leaf_hash(list(v)) for v in tree.values] == reference["leafHashes"]
    assert [tree.get_proof(i) for i in range(len(batches))] == reference["proofs"]
    # Rows survive their JSON form exactly, negative sizes and funding debts included.
    assert [positions_plan.row_from_json(positions_plan.row_json(r)) for r in rows] == rows


@pytest.mark.django_db
def test_building_a_plan_needs_the_committee_role():
    for client, status in ((APIClient(), (401, 403)), (_client(executor=True), (403,))):
        reply = client.post(
            "/api/analyses/1/plans/",
            {"mode": "restore_positions", "policy": "full", "venue": "0x" + "11" * 20},
            format="json",
        )
        assert reply.status_code in status, reply.content


def _client(**role: bool) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(**role))
    return client


# --- on anvil, with the demo stack's MarginMarket pair ---

FUNDING_BEFORE = 10**15  # accrued before the rollback block: carried over as funding debt
FUNDING_AFTER = 3 * 10**15  # accrued after it: no row may carry it


@pytest.fixture
def liquidated(w3, anvil, margin_demo, deployer, timelock, chain_settings):
    """Positions seeded, funding accrued, the rollback block; then the price dropped, the
    liquidatable accounts liquidated, more funding, one account changed: the reference block."""
    from chain.artifacts import bind
    from chain.demo import liquidate_all
    from chain.transact import send

    demo, accounts = margin_demo
    market = bind(w3, "MarginMarket", demo.address("margin_market"))
    w3.eth.wait_for_transaction_receipt(market.functions.accrueFunding(FUNDING_BEFORE).transact({"from": timelock}))
    rollback = w3.eth.block_number
    feed = bind(w3, "DemoPriceFeed", demo.address("price_feed"))
    send(w3, deployer, feed.functions.setAnswer(80_000_000))
    liquidate_all(w3, demo, liquidator=deployer, accounts=accounts)
    w3.eth.wait_for_transaction_receipt(market.functions.accrueFunding(FUNDING_AFTER).transact({"from": timelock}))
    return {
        "demo": demo,
        "accounts": accounts,
        "market": market,
        "rollback": rollback,
        "reference": w3.eth.block_number,
    }


def _analysis(w3, liquidated, *, readers=None, exploiters=()):
    from recovery.models import AnalysisStatus, ImpactAnalysis
    from tests.factories import IncidentFactory

    market = liquidated["market"].address
    incident = IncidentFactory(
        title="Margin market liquidated at a wrong price",
        affected_contracts=[market],
        exploiter_addresses=list(exploiters),
        chain_id=w3.eth.chain_id,
    )
    return ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=liquidated["rollback"],
        reference_block=liquidated["reference"],
        tracked_assets=[market],
        position_readers={market: positions_plan.MARGIN_READER} if readers is None else readers,
        status=AnalysisStatus.COMPLETED,
        node_chain_id=w3.eth.chain_id,
        rollback_block_hash=w3.eth.get_block(liquidated["rollback"])["hash"].to_0x_hex(),
        reference_block_hash=w3.eth.get_block(liquidated["reference"])["hash"].to_0x_hex(),
        summary={},
    )


def _book(market, accounts, block):
    return {a: tuple(market.functions.accountOf(a).call(block_identifier=block)) for a in accounts}


@pytest.mark.django_db
def test_a_plan_restores_every_affected_account_as_it_was_at_the_rollback_block(
    anvil, w3, demo, liquidated, deployer, timelock, executor_account
):
    from chain.artifacts import bind
    from chain.transact import send
    from recovery import plans, selectors
    from recovery.models import MigrationBatch

    market = liquidated["market"]
    before = _book(market, liquidated["accounts"], liquidated["rollback"])
    after = _book(market, liquidated["accounts"], liquidated["reference"])
    affected = sorted((a for a in before if before[a] != after[a] and any(before[a])), key=str.lower)
    exploiter = affected[0]
    analysis = _analysis(w3, liquidated, exploiters=[exploiter])
    venue = liquidated["demo"].address("migrated_margin_market")
    ceiling = positions_plan.GAS_POSITION_BASE + 4 * positions_plan.GAS_PER_POSITION

    reply = _client(committee=True).post(
        f"/api/analyses/{analysis.pk}/plans/",
        {"mode": "restore_positions", "policy": "full", "venue": venue, "gas_ceiling": ceiling},
        format="json",
    )
    assert reply.status_code == 201, reply.content
    plan = plans.get_plan(reply.json()["id"])
    plan_asset = plan.assets.get()
    batches = list(MigrationBatch.objects.filter(plan_asset=plan_asset).order_by("index"))

    funding = market.functions.fundingIndex().call(block_identifier=liquidated["rollback"])
    assert funding == FUNDING_BEFORE
    rows = [row for batch in batches for row in batch.positions]
    assert len(affected) > 2 and len(batches) > 1
    assert [row["account"] for row in rows] == affected[1:]  # the exploiter is left out
    for row in rows:
        collateral, debt, size, entry_price, margin, entry_funding = before[row["account"]]
        assert row == {
            "account": row["account"],
            "collateral": str(collateral),
            "debt": str(debt),
            "size": str(size),
            "entry_price": str(entry_price),
            "margin": str(margin),
            "funding_debt": str(funding - entry_funding if size else 0),
        }
    assert any(int(row["funding_debt"]) for row in rows)
    needed = sum(int(r["collateral"]) + int(r["margin"]) for r in rows)
    assert (plan_asset.asset, plan_asset.venue, plan_asset.budget, plan_asset.total_allocated) == (
        market.address,
        venue,
        needed,
        needed,
    )
    assert plan_asset.payout_token == market.functions.asset().call()
    assert plan.summary["assets"][market.address]["excluded"][0]["account"] == exploiter
    for batch in batches:
        assert batch.recipients == [r["account"] for r in batch.positions]
        assert batch.amounts == [str(int(r["collateral"]) + int(r["margin"])) for r in batch.positions]
        assert int(batch.total) == sum(int(a) for a in batch.amounts)

    # The commitment, rebuilt by @openzeppelin/merkle-tree from the stored rows.
    values = [
        [
            w3.eth.chain_id,
            plan.recovery_executor,
            int(plan_asset.onchain_plan_id),
            b.index,
            content_hash(venue, b.positions),
        ]
        for b in batches
    ]
    reference = js_tree(values)
    assert plan_asset.commitment_root == reference["root"] == selectors.commitment_for(plan_asset).root
    assert [b.leaf_hash for b in batches] == reference["leafHashes"]

    # On chain: approved as governance would, every batch within its gas estimate, each account
    # on the venue exactly its rollback entry with the funding it owed carried over.
    executor = bind(w3, "RecoveryExecutor", plan.recovery_executor)
    asset = bind(w3, "DemoAsset", plan_asset.payout_token)
    send(w3, deployer, asset.functions.mint(plan.recovery_executor, needed))
    approval = executor.functions.approvePlan(
        int(plan_asset.onchain_plan_id),
        plans.incident_key(plan.incident.chain_id, plan.incident_id),
        plan.version,
        plan_asset.commitment_root,
        plan_asset.payout_token,
        plans.EXECUTOR_MODES[plan.mode],
        plans.EXECUTOR_DELIVERIES[plan.delivery],
        len(batches),
        int(plan_asset.budget),
        0,
    ).transact({"from": timelock})
    w3.eth.wait_for_transaction_receipt(approval)
    for batch in batches:
        receipt = send(
            w3,
            executor_account,
            executor.functions.executePositionBatch(
                int(plan_asset.onchain_plan_id),
                batch.index,
                encode(
                    ["address", f"{POSITION}[]"],
                    [venue, [positions_plan.row_from_json(r).as_tuple() for r in batch.positions]],
                ),
                selectors.batch_proof(plan_asset, batch.index),
            ),
            tx={"gas": batch.gas_estimate + 100_000},
        )
        assert receipt["gasUsed"] <= batch.gas_estimate, (batch.index, len(batch.positions), receipt["gasUsed"])
    migrated = bind(w3, "MarginMarket", venue)
    index = migrated.functions.fundingIndex().call()
    for row in rows:
        collateral, debt, size, entry_price, margin, entry_funding = migrated.functions.accountOf(row["account"]).call()
        assert (collateral, debt, size, entry_price, margin) == before[row["account"]][:5]
        assert index - entry_funding == int(row["funding_debt"])
    assert asset.functions.balanceOf(plan.recovery_executor).call() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"venue": None}, "venue"),
        ({"venue": "0x" + "12" * 20}, "venue"),  # no contract there
        ({"venue": "asset"}, "venue"),  # a contract, not a margin market
        ({"venue": "margin_market"}, "venue"),  # the analysed market itself
        ({"recovery_executor": "deployer"}, "venue"),  # the venue grants this executor no RESTORER_ROLE
        ({"policy": "pro_rata"}, "policy"),
        ({"delivery": "pull", "claim_days": 30}, "delivery"),
        ({"delivery": "push_fallback"}, "delivery"),
        ({"budgets": "one short"}, "budgets"),
        ({"readers": {}}, "mode"),  # the analysis names no margin market
    ],
)
def test_a_plan_that_cannot_restore_is_refused_and_nothing_is_stored(w3, demo, liquidated, deployer, terms, field):
    from recovery.models import MigrationBatch, PlanAsset, RecoveryPlan

    terms = dict(terms)
    analysis = _analysis(w3, liquidated, readers=terms.pop("readers", None))
    market = liquidated["market"].address
    data = {"mode": "restore_positions", "policy": "full", "venue": demo.address("migrated_margin_market")}
    for key, value in terms.items():
        if value in ("asset", "margin_market"):
            value = demo.address(value)
        elif value == "deployer":
            value = deployer.address
        elif value == "one short":
            # One base unit below what the positions need (collateral plus margin of every row).
            rolled = _book(liquidated["market"], liquidated["accounts"], liquidated["rollback"])
            now = _book(liquidated["market"], liquidated["accounts"], liquidated["reference"])
            needed = sum(b[0] + b[4] for a, b in rolled.items() if b != now[a])
            value = {market: str(needed - 1)}
        data[key] = value
    reply = _client(committee=True).post(f"/api/analyses/{analysis.pk}/plans/", data, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["error"]["detail"]["field"] == field, reply.json()
    assert not RecoveryPlan.objects.exists() and not PlanAsset.objects.exists() and not MigrationBatch.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"readers": {}}, "mode"),
        ({"readers": {"0x" + "21" * 20: "vault", "0x" + "22" * 20: "vault"}}, "mode"),
        ({"policy": "pro_rata"}, "policy"),
        ({"delivery": "pull", "claim_days": 30}, "delivery"),
        ({"delivery": "push_fallback"}, "delivery"),
        ({"venue": None}, "venue"),
        ({"venue": "not an address"}, "venue"),
        ({"dust_threshold": "5"}, "dust_threshold"),
        ({"include_contracts": ["0x" + "23" * 20]}, "include_contracts"),
        ({"budgets": {"0x" + "24" * 20: "1"}}, "budgets"),
        ({"budgets": {"0x" + "20" * 20: "-1"}}, "budgets[0x2020202020202020202020202020202020202020]"),
    ],
)
def test_terms_no_restore_can_take_are_refused_before_the_chain_is_read(terms, field):
    """No node is reachable here: each refusal comes before any chain read, and stores nothing."""
    from recovery.models import AnalysisStatus, ImpactAnalysis, RecoveryPlan
    from tests.factories import IncidentFactory

    terms = dict(terms)
    market = to_checksum_address("0x" + "20" * 20)
    analysis = ImpactAnalysis.objects.create(
        incident=IncidentFactory(),
        rollback_block=10,
        reference_block=20,
        tracked_assets=[market],
        position_readers=terms.pop("readers", {market: positions_plan.MARGIN_READER}),
        status=AnalysisStatus.COMPLETED,
    )
    data = {
        "mode": "restore_positions",
        "policy": "full",
        "venue": "0x" + "30" * 20,
        "recovery_executor": "0x" + "40" * 20,
        **terms,
    }
    reply = _client(committee=True).post(f"/api/analyses/{analysis.pk}/plans/", data, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["error"]["detail"]["field"] == field, reply.json()
    assert not RecoveryPlan.objects.exists()


def _account(i: int, **fields: int):
    from chain.margin import MarginAccount

    base = {"collateral": 10**6 * i, "debt": 4 * 10**5 * i, "size": 10**6 * i, "entry_price": 10**8, "margin": 10**5}
    return MarginAccount(**{**base, **fields})


def test_rows_are_the_affected_rollback_entries_with_the_funding_owed_then():
    from chain.margin import MarginAccount

    a, b, c, d, e, f = (to_checksum_address(f"0x{i:040x}") for i in range(1, 7))
    rollback = {
        a.lower(): _account(1, entry_funding=5),  # liquidated: empty at the reference
        b.lower(): _account(2, size=-3 * 10**6, entry_funding=-7),  # changed since (a short)
        c.lower(): _account(3),  # unchanged: not affected
        d.lower(): MarginAccount(),  # empty at the rollback block: nothing to restore
        e.lower(): _account(5),  # affected, but an exploiter
        f.lower(): _account(6, size=0, entry_price=0, margin=0, entry_funding=9),  # no position: no funding debt
    }
    reference = {a.lower(): MarginAccount(), b.lower(): _account(2, size=0), c.lower(): _account(3)}
    rows, left_out = positions_plan.restore_rows(
        rollback, reference, funding_index=100, excluded={e: "exploiter named in the incident"}, occupied={f}
    )
    assert rows == [
        RestoreRow(a, 10**6, 4 * 10**5, 10**6, 10**8, 10**5, 95),
        RestoreRow(b, 2 * 10**6, 8 * 10**5, -3 * 10**6, 10**8, 10**5, 107),
    ]
    assert left_out == [
        {"account": e, "claim": str(5 * 10**6 + 10**5), "reason": "exploiter named in the incident"},
        {
            "account": f,
            "claim": str(6 * 10**6),
            "reason": "already holds a position on the venue (restored by an earlier version?)",
        },
    ]


@pytest.mark.django_db
def test_a_stored_plan_shows_each_position_and_is_approved_in_mode_two_with_its_budget():
    from proposals.calls import proposal_calls
    from proposals.document import build_document
    from proposals.selectors import plan_facts
    from recovery import selectors
    from recovery.models import AnalysisStatus, ImpactAnalysis, MigrationBatch
    from tests.factories import IncidentFactory

    market, venue, asset, executor = (to_checksum_address("0x" + b * 20) for b in ("20", "30", "50", "40"))
    analysis = ImpactAnalysis.objects.create(
        incident=IncidentFactory(),
        rollback_block=10,
        reference_block=20,
        tracked_assets=[market],
        position_readers={market: positions_plan.MARGIN_READER},
        status=AnalysisStatus.COMPLETED,
    )
    rows = [_row(i, short=i % 2 == 1) for i in range(5)]
    needed = sum(r.asset_needed for r in rows)
    plan = positions_plan.store_positions_plan(
        analysis=analysis,
        market=market,
        venue=venue,
        asset=asset,
        decimals=6,
        funding_index=10**16,
        rows=rows,
        left_out=[],
        budget=needed + 10,
        exclusions=[],
        policy="full",
        calls=[],
        gas_ceiling=positions_plan.GAS_POSITION_BASE + 2 * positions_plan.GAS_PER_POSITION,
        delivery="push",
        recovery_executor=executor,
        auto_execute=False,
        created_by=None,
    )
    plan_asset = plan.assets.get()
    batches = list(MigrationBatch.objects.filter(plan_asset=plan_asset).order_by("index"))
    assert [len(b.positions) for b in batches] == [2, 2, 1]
    assert [positions_plan.row_from_json(p) for b in batches for p in b.positions] == rows
    assert selectors.commitment_for(plan_asset).root == plan_asset.commitment_root
    assert (plan_asset.venue, plan_asset.payout_token, plan_asset.total_allocated, plan_asset.budget) == (
        venue,
        asset,
        needed,
        needed + 10,
    )

    incident, facts, terms = plan_facts(plan=plan)
    document = build_document(incident=incident, analysis=facts, plan=terms)
    assert document["assets"][0]["venue"] == venue
    calls = proposal_calls(document, recovery_executor=executor)
    (approve,) = calls
    assert approve.args == (
        str(plan_asset.onchain_plan_id),
        plan.summary["incident_key"],
        plan.version,
        plan_asset.commitment_root,
        asset,
        2,  # RecoveryExecutor.Mode.RestorePositions
        0,  # push
        3,
        str(needed + 10),
        0,
    )

    client = APIClient()
    client.force_login(UserFactory(committee=True))
    page = client.get(f"/plans/{plan.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert venue in text and text.count('data-testid="plan-position"') == 5
    for row in rows:
        assert row.account in text and str(row.size) in text and str(row.funding_debt) in text
