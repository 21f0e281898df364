"""RecoveryExecutor's position-restore mode on anvil: batches of margin accounts recreated on the migrated market.

Batch roots come from @openzeppelin/merkle-tree itself (tests/js/merkle_oracle.mjs, run through Node)
over [chainId, executor, planId, batchIndex, keccak256(abi.encode(market, rows))], and payloads from
``chain.margin.encode_restore``, so these tests pin both the Python encoding and the contract's leaf
to the reference library. Each test runs on the ``demo`` fixture, whose snapshot is reverted afterwards.
"""

import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.artifacts import bind
from chain.demo import DemoDeployment, holder_account
from chain.errors import Reverted
from chain.margin import MarginAccount, RestoreRow, encode_restore, restore_total
from chain.transact import reverts_as_chain_errors, send

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE = REPO_ROOT / "tests" / "js" / "merkle_oracle.mjs"
BATCH_ENCODING = ["uint256", "address", "uint256", "uint256", "bytes32"]

RESTITUTE, RESTORE, RESTORE_POSITIONS = 0, 1, 2
PUSH, PUSH_WITH_FALLBACK, PULL = 0, 1, 2
PLAN_ID = 16
INCIDENT = keccak(text="oracle-incident")
DAY = 86_400
FUNDING = 37 * 10**15  # the migrated market's funding index when the plan runs (1e18 scale)


def _row(
    index: int, *, collateral: int, debt: int, size: int, entry_price: int, margin: int, funding_debt: int
) -> RestoreRow:
    return RestoreRow(holder_account(300 + index).address, collateral, debt, size, entry_price, margin, funding_debt)


# Longs and shorts with funding owed either way, a collateral-only and a borrow-only account, odd units.
ROWS = [
    [
        _row(0, collateral=5_000_000_001, debt=2_000_000_000, size=0, entry_price=0, margin=0, funding_debt=0),
        _row(
            1,
            collateral=1_234_567_891,
            debt=0,
            size=3_000_000_000,
            entry_price=100_000_000,
            margin=400_000_003,
            funding_debt=12 * 10**15,
        ),
        _row(
            2,
            collateral=777_000_000,
            debt=150_000_000,
            size=-2_500_000_000,
            entry_price=99_870_000,
            margin=300_000_000,
            funding_debt=-5 * 10**15 - 7,
        ),
    ],
    [
        _row(3, collateral=42, debt=0, size=0, entry_price=0, margin=0, funding_debt=0),
        _row(
            4,
            collateral=10_000_000_000,
            debt=6_500_000_000,
            size=-1,
            entry_price=100_000_001,
            margin=1,
            funding_debt=FUNDING,
        ),
    ],
]


# -- helpers ----------------------------------------------------------------------------------------


def _oracle(request: dict) -> dict:
    result = subprocess.run(
        ["node", str(ORACLE)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"merkle oracle failed ({result.returncode}): {result.stderr}"
    answer = json.loads(result.stdout)
    assert "error" not in answer, answer
    return answer


class Plan:
    """A position-restore plan's batches, payloads and OpenZeppelin tree (root and proof per batch)."""

    def __init__(
        self, w3: Web3, executor: Contract, market: str, batches: Sequence[Sequence[RestoreRow]], plan_id: int
    ):
        self.plan_id = plan_id
        self.rows = [list(rows) for rows in batches]
        self.payloads = [encode_restore(market, rows) for rows in batches]
        self.totals = [restore_total(rows) for rows in batches]
        values = [
            [str(w3.eth.chain_id), executor.address, str(plan_id), str(i), "0x" + keccak(payload).hex()]
            for i, payload in enumerate(self.payloads)
        ]
        answer = _oracle({"op": "of", "values": values, "encoding": BATCH_ENCODING})
        self.root: str = answer["root"]
        self.proofs: list[list[str]] = answer["proofsByValue"]
        self.leaves: list[str] = answer["leafHashes"]

    @property
    def total(self) -> int:
        return sum(self.totals)


@pytest.fixture
def executor(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))


@pytest.fixture
def market(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "MarginMarket", demo.address("migrated_margin_market"))


@pytest.fixture
def asset(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "DemoAsset", demo.address("asset"))


@pytest.fixture
def plan(w3: Web3, executor: Contract, market: Contract) -> Plan:
    return Plan(w3, executor, market.address, ROWS, PLAN_ID)


def _as(w3: Web3, address: str, call: object) -> TxReceipt:
    """Send ``call`` from an impersonated address (the timelock) and return its receipt."""
    tx_hash = reverts_as_chain_errors(lambda: call.transact({"from": address}))  # type: ignore[attr-defined]
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def _refused(call: Callable[[], object]) -> Reverted:
    with pytest.raises(Reverted) as refused:
        call()
    return refused.value


def _approve(
    w3: Web3,
    executor: Contract,
    timelock: str,
    plan: Plan,
    token: str,
    *,
    mode: int = RESTORE_POSITIONS,
    delivery: int = PUSH,
    budget: int | None = None,
    deadline: int = 0,
) -> TxReceipt:
    call = executor.functions.approvePlan(
        plan.plan_id,
        INCIDENT,
        1,
        plan.root,
        token,
        mode,
        delivery,
        len(plan.payloads),
        plan.total if budget is None else budget,
        deadline,
    )
    return _as(w3, timelock, call)


def _execute(
    w3: Web3,
    executor: Contract,
    account: LocalAccount,
    plan: Plan,
    index: int,
    *,
    payload: bytes | None = None,
    proof: list[str] | None = None,
) -> TxReceipt:
    call = executor.functions.executePositionBatch(
        plan.plan_id,
        index,
        plan.payloads[index] if payload is None else payload,
        plan.proofs[index] if proof is None else proof,
    )
    return send(w3, account, call)


def _account(market: Contract, address: str) -> MarginAccount:
    return MarginAccount(*market.functions.accountOf(address).call())


def _ready(w3, demo, deployer, executor, market, asset, timelock, plan, *, fund: int | None = None) -> None:
    """Approve ``plan``, fund the executor with its total and move the migrated market's funding index."""
    _approve(w3, executor, timelock, plan, asset.address)
    send(w3, deployer, asset.functions.mint(executor.address, plan.total if fund is None else fund))
    _as(w3, timelock, market.functions.accrueFunding(FUNDING))


# -- approval ---------------------------------------------------------------------------------------


def test_a_position_plan_must_be_pushed(w3, demo, executor, timelock, market, asset, plan):
    """A restored position is a whole account: no claims, no credited fallback."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    for delivery, deadline in ((PUSH_WITH_FALLBACK, 0), (PULL, now + DAY)):
        refused = _refused(
            lambda d=delivery, t=deadline: _approve(w3, executor, timelock, plan, asset.address, delivery=d, deadline=t)
        )
        assert refused.error == "InvalidPlan"
    receipt = _approve(w3, executor, timelock, plan, asset.address)
    (event,) = executor.events.PlanApproved().process_receipt(receipt, errors=DISCARD)
    assert (event.args.mode, event.args.delivery, event.args.budget) == (RESTORE_POSITIONS, PUSH, plan.total)


def test_the_leaf_view_matches_openzeppelins_tree(w3, demo, executor, plan):
    for index, payload in enumerate(plan.payloads):
        leaf = executor.functions.positionBatchLeaf(plan.plan_id, index, payload).call()
        assert "0x" + bytes(leaf).hex() == plan.leaves[index]


# -- execution --------------------------------------------------------------------------------------


def test_batches_recreate_every_account_exactly_and_spend_their_asset(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, plan
):
    _ready(w3, demo, deployer, executor, market, asset, timelock, plan)
    assert market.functions.fundingIndex().call() == FUNDING
    market_before = asset.functions.balanceOf(market.address).call()

    for index in range(len(plan.payloads)):
        receipt = _execute(w3, executor, executor_account, plan, index)
        (event,) = executor.events.BatchExecuted().process_receipt(receipt, errors=DISCARD)
        assert (event.args.planId, event.args.batchIndex) == (plan.plan_id, index)
        assert (event.args.recipientCount, event.args.total) == (len(plan.rows[index]), plan.totals[index])
        assert executor.functions.isBatchExecuted(plan.plan_id, index).call()

    index_now = market.functions.fundingIndex().call()
    for row in (row for rows in plan.rows for row in rows):
        restored = _account(market, row.account)
        assert (restored.collateral, restored.debt, restored.size) == (row.collateral, row.debt, row.size)
        assert (restored.entry_price, restored.margin) == (row.entry_price, row.margin)
        # The funding owed at the rollback block is owed again, on the new market's index.
        assert index_now - restored.entry_funding == row.funding_debt
    # The market pulled exactly the collateral and margin, from the executor, through a one-call allowance.
    assert asset.functions.balanceOf(market.address).call() - market_before == plan.total
    assert asset.functions.balanceOf(executor.address).call() == 0
    assert asset.functions.allowance(executor.address, market.address).call() == 0
    assert executor.functions.getPlan(plan.plan_id).call()[10] == plan.total  # paid
    # No credit is minted: the borrowers kept what they borrowed on the old market.
    assert market.functions.totalSupply().call() == 0

    again = _refused(lambda: _execute(w3, executor, executor_account, plan, 0))
    assert (again.error, again.args_) == ("BatchAlreadyExecuted", (plan.plan_id, 0))


def test_a_wrong_proof_or_a_tampered_payload_is_refused(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, plan
):
    _ready(w3, demo, deployer, executor, market, asset, timelock, plan)
    wrong_proof = _refused(lambda: _execute(w3, executor, executor_account, plan, 0, proof=plan.proofs[1]))
    assert (wrong_proof.error, wrong_proof.args_) == ("InvalidProof", (plan.plan_id, 0))
    # One more unit of collateral for one account, with the genuine proof of the genuine batch.
    first, *rest = plan.rows[0]
    tampered = encode_restore(market.address, [replace(first, collateral=first.collateral + 1), *rest])
    refused = _refused(lambda: _execute(w3, executor, executor_account, plan, 0, payload=tampered))
    assert (refused.error, refused.args_) == ("InvalidProof", (plan.plan_id, 0))
    # Another market (here: the old one) is part of the payload too.
    elsewhere = encode_restore(demo.address("margin_market"), plan.rows[0])
    moved = _refused(lambda: _execute(w3, executor, executor_account, plan, 0, payload=elsewhere))
    assert moved.error == "InvalidProof"
    assert not executor.functions.isBatchExecuted(plan.plan_id, 0).call()
    assert _account(market, first.account).is_empty


def test_the_budget_caps_what_batches_restore(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, plan
):
    _approve(w3, executor, timelock, plan, asset.address, budget=plan.total - 1)
    send(w3, deployer, asset.functions.mint(executor.address, plan.total))
    _execute(w3, executor, executor_account, plan, 0)
    over = _refused(lambda: _execute(w3, executor, executor_account, plan, 1))
    assert (over.error, over.args_) == ("OverBudget", (plan.plan_id, plan.totals[1], plan.totals[1] - 1))
    assert _account(market, plan.rows[1][0].account).is_empty


def test_a_batch_needs_the_asset_in_hand_and_free(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, plan
):
    _ready(w3, demo, deployer, executor, market, asset, timelock, plan, fund=plan.totals[0] - 1)
    short = _refused(lambda: _execute(w3, executor, executor_account, plan, 0))
    assert (short.error, short.args_) == ("ReservedFunds", (asset.address, plan.totals[0] - 1))
    send(w3, deployer, asset.functions.mint(executor.address, 1))
    _execute(w3, executor, executor_account, plan, 0)


def test_an_account_already_on_the_market_fails_the_whole_batch(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, plan
):
    """The market refuses to overwrite an account: the batch reverts as a whole and is not spent."""
    first, second = plan.rows[0][0], plan.rows[0][1]
    twice = Plan(w3, executor, market.address, [[first], [second, first]], PLAN_ID + 1)
    _approve(w3, executor, timelock, twice, asset.address)
    send(w3, deployer, asset.functions.mint(executor.address, twice.total))
    _execute(w3, executor, executor_account, twice, 0)
    refused = _refused(lambda: _execute(w3, executor, executor_account, twice, 1))
    assert (refused.error, refused.args_) == ("AccountNotEmpty", (first.account,))
    assert not executor.functions.isBatchExecuted(twice.plan_id, 1).call()
    assert executor.functions.getPlan(twice.plan_id).call()[10] == twice.totals[0]
    assert _account(market, second.account).is_empty
    assert asset.functions.balanceOf(executor.address).call() == twice.totals[1]


def test_only_the_executor_role_restores(
    w3, demo, deployer, executor, market, asset, timelock, committee_account, attacker, plan
):
    _ready(w3, demo, deployer, executor, market, asset, timelock, plan)
    for outsider in (committee_account, attacker, deployer):
        refused = _refused(lambda o=outsider: _execute(w3, executor, o, plan, 0))
        assert (refused.error, refused.args_[0]) == ("AccessControlUnauthorizedAccount", outsider.address)
    # Nor can anyone skip the executor and restore on the market directly.
    rows = [row.as_tuple() for row in plan.rows[0]]
    direct = _refused(lambda: send(w3, attacker, market.functions.restorePositions(rows)))
    assert direct.error == "AccessControlUnauthorizedAccount"


def test_a_paused_executor_restores_nothing(
    w3, demo, deployer, executor, market, asset, timelock, executor_account, committee_account, plan
):
    _ready(w3, demo, deployer, executor, market, asset, timelock, plan)
    send(w3, committee_account, executor.functions.pause())
    paused = _refused(lambda: _execute(w3, executor, executor_account, plan, 0))
    assert paused.error == "EnforcedPause"
    send(w3, committee_account, executor.functions.unpause())
    _execute(w3, executor, executor_account, plan, 0)


def test_each_mode_has_its_own_entry_point(w3, demo, deployer, executor, market, asset, timelock, executor_account):
    positions = Plan(w3, executor, market.address, ROWS, PLAN_ID)
    _approve(w3, executor, timelock, positions, asset.address)
    send(w3, deployer, asset.functions.mint(executor.address, positions.total))
    pays = executor.functions.executeBatch(PLAN_ID, 0, [executor_account.address], [1], positions.proofs[0])
    refused = _refused(lambda: send(w3, executor_account, pays))
    assert (refused.error, refused.args_) == ("WrongMode", (PLAN_ID, RESTORE_POSITIONS))

    # A restitute plan whose tree happens to hold position payloads still cannot restore positions.
    restitute = Plan(w3, executor, market.address, ROWS, PLAN_ID + 1)
    _approve(w3, executor, timelock, restitute, asset.address, mode=RESTITUTE)
    wrong = _refused(lambda: _execute(w3, executor, executor_account, restitute, 0))
    assert (wrong.error, wrong.args_) == ("WrongMode", (PLAN_ID + 1, RESTITUTE))


def test_an_approved_batch_without_rows_is_refused(
    w3, demo, deployer, executor, market, asset, timelock, executor_account
):
    empty = Plan(w3, executor, market.address, [[], ROWS[1]], PLAN_ID)
    _approve(w3, executor, timelock, empty, asset.address)
    refused = _refused(lambda: _execute(w3, executor, executor_account, empty, 0))
    assert (refused.error, refused.args_) == ("EmptyBatch", (PLAN_ID, 0))
    assert not executor.functions.isBatchExecuted(PLAN_ID, 0).call()
