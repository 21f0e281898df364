"""RecoveryExecutor on anvil: who may approve and execute, and every refusal it promises."""

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from chain.artifacts import bind
from chain.demo import DemoDeployment, holder_account
from chain.errors import Reverted
from chain.transact import reverts_as_chain_errors, send
from recovery.commitment import Batch, build_commitment

RESTITUTE, RESTORE = 0, 1
PLAN_ID = 7


def _recipients(count: int, start: int = 100) -> tuple[str, ...]:
    return tuple(holder_account(start + i).address for i in range(count))


BATCHES = [
    Batch(0, _recipients(3, 100), (1_000_001, 2_000_002, 3)),
    Batch(1, _recipients(2, 103), (10**12 + 7, 5)),
    Batch(2, _recipients(1, 105), (999_999,)),
]
BUDGET = sum(batch.total for batch in BATCHES)


@pytest.fixture
def executor(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))


def _as(address: str, call: object) -> dict:
    return reverts_as_chain_errors(lambda: call.transact({"from": address}))  # type: ignore[attr-defined]


def _approve(executor: Contract, timelock: str, *, token: str, mode: int, budget: int = BUDGET, batches=BATCHES) -> str:
    root = build_commitment(batches).root
    _as(timelock, executor.functions.approvePlan(PLAN_ID, root, token, mode, len(batches), budget))
    return root


def _execute(w3: Web3, executor: Contract, account: LocalAccount, batch: Batch, proof: list[str]) -> dict:
    return send(
        w3,
        account,
        executor.functions.executeBatch(PLAN_ID, batch.index, list(batch.recipients), list(batch.amounts), proof),
    )


def _fund(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, to: str, amount: int) -> Contract:
    asset = bind(w3, "DemoAsset", demo.address("asset"))
    send(w3, deployer, asset.functions.mint(to, amount))
    return asset


def test_only_the_approver_can_approve_a_plan(w3, demo, executor, timelock, executor_account, committee_account):
    root = build_commitment(BATCHES).root
    for outsider in (executor_account, committee_account):
        with pytest.raises(Reverted) as refused:
            send(
                w3, outsider, executor.functions.approvePlan(PLAN_ID, root, demo.address("asset"), RESTITUTE, 3, BUDGET)
            )
        assert refused.value.error == "AccessControlUnauthorizedAccount"
        assert refused.value.args_[0] == outsider.address

    receipt = _as(timelock, executor.functions.approvePlan(PLAN_ID, root, demo.address("asset"), RESTITUTE, 3, BUDGET))
    event = executor.events.PlanApproved().process_receipt(w3.eth.get_transaction_receipt(receipt), errors=DISCARD)[0][
        "args"
    ]
    assert (event.planId, "0x" + bytes(event.batchesRoot).hex(), event.budget) == (PLAN_ID, root, BUDGET)
    plan = executor.functions.getPlan(PLAN_ID).call()
    assert "0x" + bytes(plan[0]).hex() == root and plan[3] == 1  # status Approved

    with pytest.raises(Reverted) as again:
        _as(timelock, executor.functions.approvePlan(PLAN_ID, root, demo.address("asset"), RESTITUTE, 3, BUDGET))
    assert again.value.error == "PlanAlreadyExists"


def test_restitute_pays_every_recipient_exactly_from_recovered_funds(
    w3, demo, deployer, executor, timelock, executor_account
):
    asset = _fund(w3, demo, deployer, executor.address, BUDGET + 123)  # recovered funds, a little more than owed
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    before = {r: asset.functions.balanceOf(r).call() for b in BATCHES for r in b.recipients}

    for batch in BATCHES:
        receipt = _execute(w3, executor, executor_account, batch, tree.get_proof(batch.index))
        event = executor.events.BatchExecuted().process_receipt(receipt, errors=DISCARD)[0]["args"]
        assert (event.batchIndex, event.recipientCount, event.total) == (
            batch.index,
            len(batch.recipients),
            batch.total,
        )
        assert executor.functions.isBatchExecuted(PLAN_ID, batch.index).call()

    for batch in BATCHES:
        for recipient, amount in zip(batch.recipients, batch.amounts, strict=True):
            assert asset.functions.balanceOf(recipient).call() == before[recipient] + amount
    assert asset.functions.balanceOf(executor.address).call() == 123
    assert executor.functions.getPlan(PLAN_ID).call()[6] == BUDGET  # paid


def test_restore_mints_exactly_on_the_migrated_token(w3, demo, executor, timelock, executor_account):
    migrated = bind(w3, "RecoveryToken", demo.address("migrated_vault_share"))
    supply = migrated.functions.totalSupply().call()
    _approve(executor, timelock, token=migrated.address, mode=RESTORE)
    tree = build_commitment(BATCHES)
    for batch in BATCHES:
        _execute(w3, executor, executor_account, batch, tree.get_proof(batch.index))
    for batch in BATCHES:
        for recipient, amount in zip(batch.recipients, batch.amounts, strict=True):
            assert migrated.functions.balanceOf(recipient).call() == amount
    assert migrated.functions.totalSupply().call() == supply + BUDGET


def test_a_batch_with_a_wrong_proof_or_altered_amounts_is_refused(
    w3, demo, deployer, executor, timelock, executor_account
):
    asset = _fund(w3, demo, deployer, executor.address, BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    batch = BATCHES[0]

    with pytest.raises(Reverted) as wrong_proof:
        _execute(w3, executor, executor_account, batch, tree.get_proof(1))
    assert wrong_proof.value.error == "InvalidProof"

    inflated = Batch(0, batch.recipients, (batch.amounts[0] + 1, *batch.amounts[1:]))
    with pytest.raises(Reverted) as altered:
        _execute(w3, executor, executor_account, inflated, tree.get_proof(0))
    assert altered.value.error == "InvalidProof"

    redirected = Batch(0, (executor_account.address, *batch.recipients[1:]), batch.amounts)
    with pytest.raises(Reverted) as rerouted:
        _execute(w3, executor, executor_account, redirected, tree.get_proof(0))
    assert rerouted.value.error == "InvalidProof"
    assert asset.functions.balanceOf(executor.address).call() == BUDGET


def test_a_batch_already_executed_is_refused(w3, demo, deployer, executor, timelock, executor_account):
    asset = _fund(w3, demo, deployer, executor.address, 2 * BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    _execute(w3, executor, executor_account, BATCHES[1], tree.get_proof(1))
    with pytest.raises(Reverted) as replay:
        _execute(w3, executor, executor_account, BATCHES[1], tree.get_proof(1))
    assert replay.value.error == "BatchAlreadyExecuted"
    assert replay.value.args_ == (PLAN_ID, 1)
    assert asset.functions.balanceOf(executor.address).call() == 2 * BUDGET - BATCHES[1].total


def test_a_batch_over_the_budget_is_refused(w3, demo, deployer, executor, timelock, executor_account):
    budget = BATCHES[0].total + BATCHES[1].total  # batch 2 cannot fit
    asset = _fund(w3, demo, deployer, executor.address, BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE, budget=budget)
    tree = build_commitment(BATCHES)
    _execute(w3, executor, executor_account, BATCHES[0], tree.get_proof(0))
    _execute(w3, executor, executor_account, BATCHES[1], tree.get_proof(1))
    with pytest.raises(Reverted) as over:
        _execute(w3, executor, executor_account, BATCHES[2], tree.get_proof(2))
    assert over.value.error == "OverBudget"
    assert over.value.args_ == (PLAN_ID, BATCHES[2].total, 0)
    assert not executor.functions.isBatchExecuted(PLAN_ID, 2).call()


def test_only_the_executor_role_can_execute_a_batch(
    w3, demo, deployer, executor, timelock, committee_account, attacker
):
    asset = _fund(w3, demo, deployer, executor.address, BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    for outsider in (committee_account, attacker, deployer):
        with pytest.raises(Reverted) as refused:
            _execute(w3, executor, outsider, BATCHES[0], tree.get_proof(0))
        assert refused.value.error == "AccessControlUnauthorizedAccount"
    assert asset.functions.balanceOf(executor.address).call() == BUDGET


def test_a_paused_executor_refuses_batches_until_the_guardian_unpauses(
    w3, demo, deployer, executor, timelock, executor_account, committee_account
):
    asset = _fund(w3, demo, deployer, executor.address, BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    with pytest.raises(Reverted) as not_guardian:
        send(w3, executor_account, executor.functions.pause())
    assert not_guardian.value.error == "AccessControlUnauthorizedAccount"

    send(w3, committee_account, executor.functions.pause())
    with pytest.raises(Reverted) as paused:
        _execute(w3, executor, executor_account, BATCHES[0], tree.get_proof(0))
    assert paused.value.error == "EnforcedPause"

    send(w3, committee_account, executor.functions.unpause())
    _execute(w3, executor, executor_account, BATCHES[0], tree.get_proof(0))
    assert executor.functions.isBatchExecuted(PLAN_ID, 0).call()


def test_a_revoked_plan_pays_nothing_more(w3, demo, deployer, executor, timelock, executor_account):
    asset = _fund(w3, demo, deployer, executor.address, BUDGET)
    _approve(executor, timelock, token=asset.address, mode=RESTITUTE)
    tree = build_commitment(BATCHES)
    _execute(w3, executor, executor_account, BATCHES[0], tree.get_proof(0))
    with pytest.raises(Reverted) as not_approver:
        send(w3, executor_account, executor.functions.revokePlan(PLAN_ID))
    assert not_approver.value.error == "AccessControlUnauthorizedAccount"
    _as(timelock, executor.functions.revokePlan(PLAN_ID))
    with pytest.raises(Reverted) as revoked:
        _execute(w3, executor, executor_account, BATCHES[1], tree.get_proof(1))
    assert revoked.value.error == "PlanNotActive"


def test_the_contract_computes_the_same_batch_leaf_as_the_commitment(w3, demo, executor):
    tree = build_commitment(BATCHES)
    for batch in BATCHES:
        on_chain = executor.functions.batchLeaf(batch.index, list(batch.recipients), list(batch.amounts)).call()
        assert "0x" + bytes(on_chain).hex() == tree.leaf_hash(tree.values[batch.index])
