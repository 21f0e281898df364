"""Approving and paying RecoveryExecutor plans directly on anvil, for the payout and verification tests.

The timelock (impersonated: the ``timelock`` fixture) approves; the executor key executes.
Nothing here goes through the database or Celery: the tests read back what the chain did.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

from chain.artifacts import bind, factory
from chain.demo import DemoDeployment, holder_account
from chain.transact import reverts_as_chain_errors, send
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.merkle import StandardMerkleTree

RESTITUTE, RESTORE = 0, 1
PUSH, PUSH_WITH_FALLBACK, PULL = 0, 1, 2
ALLOCATION_ENCODING = ("uint256", "address", "uint256")


def recipients(count: int, start: int = 100) -> tuple[str, ...]:
    return tuple(holder_account(start + i).address for i in range(count))


def make_batches(accounts: Sequence[str], amounts: Sequence[int], size: int) -> list[Batch]:
    return [
        Batch(index, tuple(accounts[start : start + size]), tuple(amounts[start : start + size]))
        for index, start in enumerate(range(0, len(accounts), size))
    ]


@dataclass
class PushPlan:
    plan_id: int
    token: str
    mode: int
    delivery: int
    batches: list[Batch]
    tree: StandardMerkleTree

    @property
    def budget(self) -> int:
        return sum(batch.total for batch in self.batches)


@dataclass
class PullPlan:
    plan_id: int
    token: str
    mode: int
    values: list[list[object]]  # [index, account, amount]
    tree: StandardMerkleTree


def executor_contract(w3: Web3, demo: DemoDeployment) -> Contract:
    return bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))


def as_timelock(timelock: str, call: object) -> None:
    reverts_as_chain_errors(lambda: call.transact({"from": timelock}))  # type: ignore[attr-defined]


def incident_key(name: str) -> bytes:
    return keccak(text=f"lifeboat-test-incident-{name}")


def approve_push(
    w3: Web3,
    demo: DemoDeployment,
    timelock: str,
    *,
    plan_id: int,
    batches: list[Batch],
    token: str,
    mode: int = RESTITUTE,
    delivery: int = PUSH,
    incident: str = "a",
    version: int = 1,
) -> PushPlan:
    executor = executor_contract(w3, demo)
    domain = CommitmentDomain(w3.eth.chain_id, executor.address, plan_id)
    tree = build_commitment(batches, domain=domain)
    plan = PushPlan(plan_id, token, mode, delivery, batches, tree)
    as_timelock(
        timelock,
        executor.functions.approvePlan(
            plan_id, incident_key(incident), version, tree.root, token, mode, delivery, len(batches), plan.budget, 0
        ),
    )
    return plan


def execute(w3: Web3, demo: DemoDeployment, account: LocalAccount, plan: PushPlan, index: int) -> str:
    """Execute batch ``index`` of ``plan``; the transaction hash, lowercase 0x hex."""
    batch = plan.batches[index]
    receipt = send(
        w3,
        account,
        executor_contract(w3, demo).functions.executeBatch(
            plan.plan_id, index, list(batch.recipients), list(batch.amounts), plan.tree.get_proof(index)
        ),
    )
    return "0x" + bytes(receipt["transactionHash"]).hex()  # type: ignore[index]


def approve_pull(
    w3: Web3,
    demo: DemoDeployment,
    timelock: str,
    *,
    plan_id: int,
    accounts: Sequence[str],
    amounts: Sequence[int],
    token: str,
    mode: int = RESTITUTE,
    incident: str = "pull",
    version: int = 1,
) -> PullPlan:
    values: list[list[object]] = [[i, a, n] for i, (a, n) in enumerate(zip(accounts, amounts, strict=True))]
    tree = StandardMerkleTree.of(values, ALLOCATION_ENCODING)
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 86_400  # type: ignore[index]
    deadline = max(deadline, int(time.time()) + 86_400)
    as_timelock(
        timelock,
        executor_contract(w3, demo).functions.approvePlan(
            plan_id, incident_key(incident), version, tree.root, token, mode, PULL, len(values), sum(amounts), deadline
        ),
    )
    return PullPlan(plan_id, token, mode, values, tree)


def claim(w3: Web3, demo: DemoDeployment, sender: LocalAccount, plan: PullPlan, index: int) -> str:
    _, account, amount = plan.values[index]
    receipt = send(
        w3,
        sender,
        executor_contract(w3, demo).functions.claim(plan.plan_id, index, account, amount, plan.tree.get_proof(index)),
    )
    return "0x" + bytes(receipt["transactionHash"]).hex()  # type: ignore[index]


def fund_executor(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, amount: int) -> str:
    """Mint ``amount`` of the demo asset to the executor; the asset's address."""
    asset = bind(w3, "DemoAsset", demo.address("asset"))
    send(w3, deployer, asset.functions.mint(demo.address("recovery_executor"), amount))
    return asset.address


def deploy_blocking_token(w3: Web3, demo: DemoDeployment, deployer: LocalAccount, *, fund: int) -> Contract:
    """A BlockingToken (owner: the deployer) with ``fund`` minted to the executor."""
    receipt = send(w3, deployer, factory(w3, "BlockingToken").constructor(deployer.address, 6))
    token = bind(w3, "BlockingToken", receipt["contractAddress"])  # type: ignore[index]
    send(w3, deployer, token.functions.mint(demo.address("recovery_executor"), fund))
    return token


def balance_of(w3: Web3, token: str, account: str) -> int:
    return int(bind(w3, "DemoAsset", token).functions.balanceOf(account).call())
