"""Gas of RecoveryExecutor's payouts, per recipient, against a bare loop, plain transfers and the EIP floor.

    python benchmarks/gas_bench.py [--accounts 10000] [--per-tx 200] [--leaves 10000] [--claims 1000]
                                   [--quick] [--json OUT] [--show OUT.json]

On a fresh anvil started here (zero base fee, 60M block gas limit; each path's transactions go
into the pool with automine off and are then mined, which changes no transaction's gas), every
figure is ``gasUsed`` summed from receipts: exact integers, each transaction's 21,000 and its
calldata included. Nothing is estimated. Three parts:

1. **Restitute** (transfer from the contract's balance) of ``--accounts`` accounts,
   ``--per-tx`` a transaction, to fresh recipients (balance 0 before) and to existing holders
   (balance > 0 before, seeded beforehand):

   - ``RecoveryExecutor.executeBatch``, delivery Push and PushWithFallback: plans approved with
     the 10-argument ``approvePlan``, batch roots from ``recovery.commitment.build_commitment``
     bound to the chain, executor and plan id, each batch sent with its proof;
   - (a) one plain ``transfer`` transaction per account;
   - (b) ``BareDisperse.disperse`` (contracts/src/test/bench): ``for i: token.transfer(r[i], a[i])``,
     no checks, the same ``--per-tx`` a transaction: the peer and the issue's yardstick
     (target: executeBatch at most 5% over it);
   - (c) the floor, computed (``floor_per_recipient``, formula below).

2. **Restore** (mint a ``RecoveryToken``, the executor holding its minter role): executeBatch with
   mode Restore against (b) ``BareDisperse.mintAll`` (a bare ``mint`` loop, also a minter) and (c).

3. **Pull**: ``--claims`` claims, spread evenly over a ``--leaves``-leaf allocation tree, each its
   own transaction, to fresh and to existing holders: ``RecoveryExecutor.claim`` (delivery Pull,
   restitute; leaves ``["uint256", "address", "uint256"] = [index, account, amount]`` in a
   ``recovery.merkle.StandardMerkleTree``) against ``BenchMerkleDistributor.claim``
   (contracts/src/test/bench: Uniswap-style, index bitmap, leaf
   ``keccak256(abi.encodePacked(index, account, amount))`` hashed once, sorted-pair proof, transfer).

The floor (c), per recipient, for ``n`` recipients a transaction (EIP-2929 access costs, EIP-2200
and EIP-3529 storage costs, yellow-paper log and calldata costs)::

    floor = 2,100                       cold SLOAD of the recipient's balance slot
          + 20,000 (fresh)              SSTORE zero -> non-zero
            or 2,900 (existing)         SSTORE non-zero -> non-zero (5,000 - the 2,100 cold charge)
          + 1,756                       Transfer log: LOG3 375 + 3 topics x 375 + 32 data bytes x 8
          + calldata(recipient, amount) the pair's 64 ABI bytes at 16 per non-zero byte, 4 per zero byte
                                        (from the benchmark's own data, averaged)
          + (21,000                     the transaction
             + 2,600                    cold access to the token's account
             + 2,100 + 2,900)           the payer's balance slot (restore: totalSupply), read once and
            / n                         written once, amortised over the n recipients

It leaves out everything no payment can avoid only in principle: the call into the token per
recipient, ABI decoding, memory, the payer's slot re-written per recipient.

Every path is run from the same chain state (``evm_snapshot``/``evm_revert`` around each), and
after each one every recipient's balance is read back and must have risen by exactly its amount
(and every receipt must have status 1), or the run exits non-zero. Wall seconds and
CPU-seconds (this process, anvil) stand beside each path; gas is what the figures are about.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cputime import describe, machine, measured
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import load_artifact
from chain.balances import read_balances
from chain.logs import RawRpc
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.merkle import StandardMerkleTree

TARGET_OVER_BARE_LOOP = 1.05  # the target: executeBatch at most 5% over the bare loop
BATCH_TX_GAS = 16_000_000  # under the 2**24 per-transaction cap of recent hardforks
SINGLE_TX_GAS = 400_000
RPC_BATCH = 250  # JSON-RPC requests per HTTP round trip
SUPPLY = 10**36
SEED_AMOUNT = 10**18  # what an existing holder holds before the payout
RESTITUTE, RESTORE = 0, 1
PUSH, PUSH_WITH_FALLBACK, PULL = 0, 1, 2
ALLOCATION_ENCODING = ("uint256", "address", "uint256")

# Floor constants (see the module docstring).
COLD_SLOAD = 2_100
SSTORE_SET = 20_000
SSTORE_RESET = 2_900
TRANSFER_LOG = 375 + 3 * 375 + 32 * 8
TX_BASE = 21_000
COLD_ACCOUNT = 2_600

DEPLOYER = Account.from_key(devkeys.DEPLOYER_KEY).address  # admin, approver, payer of plain transfers
EXECUTOR = Account.from_key(devkeys.EXECUTOR_KEY).address  # EXECUTOR_ROLE
CLAIMER = Account.from_key(devkeys.RELAYER_KEY).address  # submits every claim (anyone may)


def selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


TRANSFER = selector("transfer(address,uint256)")
EXECUTE_BATCH = selector("executeBatch(uint256,uint256,address[],uint256[],bytes32[])")
CLAIM = selector("claim(uint256,uint256,address,uint256,bytes32[])")
DISTRIBUTOR_CLAIM = selector("claim(uint256,address,uint256,bytes32[])")
DISPERSE = selector("disperse(address,address[],uint256[])")
MINT_ALL = selector("mintAll(address,address[],uint256[])")
SPRAY = selector("spray(address[],uint256)")
APPROVE_PLAN = selector("approvePlan(uint256,bytes32,uint64,bytes32,address,uint8,uint8,uint32,uint256,uint64)")
GRANT_ROLE = selector("grantRole(bytes32,address)")
MINTER_ROLE = keccak(text="MINTER_ROLE")
CREDITED_TOPIC = "0x" + keccak(text="Credited(uint256,address,address,uint256)").hex()


def calldata(function: bytes, types: Sequence[str], values: Sequence[Any]) -> str:
    return "0x" + (function + encode(list(types), list(values))).hex()


def accounts(count: int) -> list[str]:
    """``count`` deterministic addresses that look like real ones (hashes, so about 20 non-zero bytes)."""
    return [to_checksum_address(keccak(b"lifeboat-gas-bench" + i.to_bytes(8, "big"))[12:]) for i in range(count)]


def amounts(count: int) -> list[int]:
    """18-decimal amounts between 0.001 and 1,000 tokens: 7 to 9 significant bytes, as real ones have."""
    return [10**15 + int.from_bytes(keccak(b"amount" + i.to_bytes(8, "big"))[:8], "big") % 10**21 for i in range(count)]


def calldata_gas(data: bytes) -> int:
    return sum(16 if byte else 4 for byte in data)


def floor_per_recipient(recipients: Sequence[str], paid: Sequence[int], *, per_tx: int, existing: bool) -> float:
    """The floor (c) of the module docstring, averaged over the benchmark's own recipients and amounts."""
    pairs = sum(calldata_gas(encode(["address", "uint256"], [r, a])) for r, a in zip(recipients, paid, strict=True))
    per_recipient = COLD_SLOAD + (SSTORE_RESET if existing else SSTORE_SET) + TRANSFER_LOG
    per_tx_costs = TX_BASE + COLD_ACCOUNT + COLD_SLOAD + SSTORE_RESET
    return per_recipient + pairs / len(recipients) + per_tx_costs / per_tx


class SortedPairTree:
    """The Uniswap merkle-distributor tree: leaves hashed once, pairs sorted before hashing, an odd node promoted."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels = [list(leaves)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            parents = [
                keccak(min(level[i], level[i + 1]) + max(level[i], level[i + 1])) for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                parents.append(level[-1])
            self.levels.append(parents)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, position: int) -> list[bytes]:
        proof = []
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            position //= 2
        return proof


def distributor_leaf(index: int, account: str, amount: int) -> bytes:
    return keccak(index.to_bytes(32, "big") + bytes.fromhex(account[2:]) + amount.to_bytes(32, "big"))


class Node:
    """Raw JSON-RPC to the bench's anvil: many transactions from its unlocked dev accounts, receipts back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rpc = RawRpc(url, timeout=300)
        self.chain_id = int(self.rpc.call("eth_chainId", []), 16)

    def send_all(self, txs: Sequence[dict[str, Any]], *, gas: int) -> list[dict[str, Any]]:
        """Send ``txs`` (each ``from``/``to``/``data``) with explicit nonces; their receipts, all status 1."""
        senders = {tx["from"] for tx in txs}
        nonces = {s: int(self.rpc.call("eth_getTransactionCount", [s, "pending"]), 16) for s in senders}
        requests = []
        for tx in txs:
            full = {**tx, "gas": hex(gas), "gasPrice": "0x0", "nonce": hex(nonces[tx["from"]])}
            nonces[tx["from"]] += 1
            requests.append(("eth_sendTransaction", [full]))
        hashes = []
        # anvil may handle a JSON-RPC batch's requests concurrently: with automine on, a transaction
        # arriving ahead of its nonce's turn can be left queued for good. So automine is off while
        # a path's transactions go in, and blocks are mined once all of them are in the pool. Gas
        # per transaction does not depend on how many share a block (EIP-2929 warmth is per transaction).
        self.rpc.call("evm_setAutomine", [False])
        try:
            for offset in range(0, len(requests), RPC_BATCH):
                for reply in self.rpc.batch(requests[offset : offset + RPC_BATCH]):
                    if "error" in reply:
                        raise RuntimeError(f"eth_sendTransaction refused: {reply['error']}")
                    hashes.append(reply["result"])
            while any(int(count, 16) for count in self.rpc.call("txpool_status", []).values()):
                self.rpc.call("evm_mine", [])
        finally:
            self.rpc.call("evm_setAutomine", [True])
        receipts: list[dict[str, Any] | None] = [None] * len(hashes)
        deadline = time.monotonic() + 600
        while any(r is None for r in receipts):
            if time.monotonic() > deadline:
                raise RuntimeError("transactions still unmined after 600 s")
            missing = [i for i, r in enumerate(receipts) if r is None]
            for offset in range(0, len(missing), RPC_BATCH):
                group = missing[offset : offset + RPC_BATCH]
                replies = self.rpc.batch([("eth_getTransactionReceipt", [hashes[i]]) for i in group])
                for i, reply in zip(group, replies, strict=True):
                    receipts[i] = reply.get("result")
            if any(r is None for r in receipts):
                time.sleep(0.05)
        done = [r for r in receipts if r is not None]
        failed = [r["transactionHash"] for r in done if r["status"] != "0x1"]
        if failed:
            raise RuntimeError(f"{len(failed)} transaction(s) reverted, first {failed[0]}")
        return done

    def send(self, sender: str, to: str | None, data: str, *, gas: int = BATCH_TX_GAS) -> dict[str, Any]:
        tx = {"from": sender, "data": data}
        if to is not None:
            tx["to"] = to
        return self.send_all([tx], gas=gas)[0]

    def deploy(self, name: str, types: Sequence[str] = (), values: Sequence[Any] = ()) -> str:
        receipt = self.send(DEPLOYER, None, load_artifact(name).bytecode + encode(list(types), list(values)).hex())
        return to_checksum_address(receipt["contractAddress"])

    def balances(self, token: str, holders: Sequence[str]) -> dict[str, int]:
        return read_balances(self.rpc, token, holders, int(self.rpc.call("eth_blockNumber", []), 16))


@dataclass
class Measured:
    """One path's gas, from receipts, and its times."""

    path: str
    label: str
    part: str
    holders: str  # fresh or existing
    recipients: int
    transactions: int
    gas: int
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    anvil_cpu_seconds: float = 0.0
    exact: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_recipient(self) -> float:
        return self.gas / self.recipients


@dataclass
class Setup:
    token: str  # the restitute token (an OpenZeppelin ERC20)
    recovery_token: str  # the restore token (RecoveryToken)
    executor: str  # RecoveryExecutor
    disperse: str  # BareDisperse
    distributor: str  # BenchMerkleDistributor
    recipients: list[str]
    paid: list[int]
    batches: dict[int, list[Batch]]  # plan id -> batches
    proofs: dict[int, list[list[str]]]  # plan id -> proof per batch
    pull_values: list[list[Any]]
    pull_proofs: dict[int, list[str]]  # claimed index -> StandardMerkleTree proof
    distributor_proofs: dict[int, list[bytes]]
    claimed: list[int]  # the indexes claimed


PLAN_PUSH, PLAN_FALLBACK, PLAN_RESTORE, PLAN_PULL = 1, 2, 3, 4


def chunks(recipients: Sequence[str], paid: Sequence[int], per_tx: int) -> list[Batch]:
    return [
        Batch(index=i // per_tx, recipients=tuple(recipients[i : i + per_tx]), amounts=tuple(paid[i : i + per_tx]))
        for i in range(0, len(recipients), per_tx)
    ]


def set_up(node: Node, *, count: int, per_tx: int, leaves: int, claims: int) -> Setup:
    """Deploy the tokens, the executor and the peers, fund them and approve the four plans."""
    recipients, paid = accounts(max(count, leaves)), amounts(max(count, leaves))
    token = node.deploy("BulkTransferToken", ["uint256"], [SUPPLY])
    recovery_token = node.deploy(
        "RecoveryToken", ["string", "string", "uint8", "address"], ["Rec", "REC", 18, DEPLOYER]
    )
    executor = node.deploy("RecoveryExecutor", ["address"] * 4, [DEPLOYER, DEPLOYER, EXECUTOR, DEPLOYER])
    disperse = node.deploy("BareDisperse")
    for minter in (executor, disperse):
        node.send(DEPLOYER, recovery_token, calldata(GRANT_ROLE, ["bytes32", "address"], [MINTER_ROLE, minter]))

    # Push plans: 1 restitute Push, 2 restitute PushWithFallback, 3 restore Push.
    batches, proofs = {}, {}
    plans = {
        PLAN_PUSH: (RESTITUTE, PUSH),
        PLAN_FALLBACK: (RESTITUTE, PUSH_WITH_FALLBACK),
        PLAN_RESTORE: (RESTORE, PUSH),
    }
    for plan_id, (mode, delivery) in plans.items():
        plan_batches = chunks(recipients[:count], paid[:count], per_tx)
        tree = build_commitment(plan_batches, domain=CommitmentDomain(node.chain_id, executor, plan_id))
        batches[plan_id], proofs[plan_id] = plan_batches, [tree.get_proof(b.index) for b in plan_batches]
        payout = recovery_token if mode == RESTORE else token
        approve(node, executor, plan_id, tree.root, payout, mode, delivery, len(plan_batches), sum(paid[:count]), 0)

    # Pull: an allocation tree of `leaves` leaves, `claims` of them claimed, spread evenly.
    pull_values = [[i, recipients[i], paid[i]] for i in range(leaves)]
    pull_tree = StandardMerkleTree.of(pull_values, ALLOCATION_ENCODING)
    step = max(1, leaves // claims)
    claimed = list(range(0, leaves, step))[:claims]
    pull_proofs = {i: pull_tree.get_proof(i) for i in claimed}
    deadline = int(node.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16) + 30 * 86_400
    pull_budget = sum(paid[:leaves])
    approve(node, executor, PLAN_PULL, pull_tree.root, token, RESTITUTE, PULL, leaves, pull_budget, deadline)
    sorted_tree = SortedPairTree([distributor_leaf(*value) for value in pull_values])
    distributor = node.deploy("BenchMerkleDistributor", ["address", "bytes32"], [token, sorted_tree.root])
    distributor_proofs = {i: sorted_tree.proof(i) for i in claimed}

    # Funding: every payer holds more than any one path pays (each path runs from this state).
    funding = 4 * (sum(paid[:count]) + pull_budget)
    for payer in (executor, disperse, distributor):
        node.send(DEPLOYER, token, calldata(TRANSFER, ["address", "uint256"], [payer, funding]))
    return Setup(
        token=token,
        recovery_token=recovery_token,
        executor=executor,
        disperse=disperse,
        distributor=distributor,
        recipients=recipients[:count],
        paid=paid[:count],
        batches=batches,
        proofs=proofs,
        pull_values=pull_values,
        pull_proofs=pull_proofs,
        distributor_proofs=distributor_proofs,
        claimed=claimed,
    )


def approve(
    node: Node,
    executor: str,
    plan_id: int,
    root: str,
    token: str,
    mode: int,
    delivery: int,
    batch_count: int,
    budget: int,
    deadline: int,
) -> None:
    incident = keccak(b"gas-bench-incident" + plan_id.to_bytes(8, "big"))  # one incident per plan: none supersedes
    types = ["uint256", "bytes32", "uint64", "bytes32", "address", "uint8", "uint8", "uint32", "uint256", "uint64"]
    values = [plan_id, incident, 1, bytes.fromhex(root[2:]), token, mode, delivery, batch_count, budget, deadline]
    node.send(DEPLOYER, executor, calldata(APPROVE_PLAN, types, values))


def seed_existing(node: Node, setup: Setup) -> None:
    """Give every recipient (and every pull claimant) a balance of both tokens before the payouts."""
    holders = list(dict.fromkeys(setup.recipients + [setup.pull_values[i][1] for i in setup.claimed]))
    per = 200
    groups = [holders[i : i + per] for i in range(0, len(holders), per)]
    spray = [calldata(SPRAY, ["address[]", "uint256"], [g, SEED_AMOUNT]) for g in groups]
    node.send_all([{"from": DEPLOYER, "to": setup.token, "data": data} for data in spray], gas=BATCH_TX_GAS)
    types = ["address", "address[]", "uint256[]"]
    mint = [calldata(MINT_ALL, types, [setup.recovery_token, g, [SEED_AMOUNT] * len(g)]) for g in groups]
    node.send_all([{"from": DEPLOYER, "to": setup.disperse, "data": data} for data in mint], gas=BATCH_TX_GAS)


# --- the paths' transactions ------------------------------------------------------------------------


def batch_txs(setup: Setup, plan_id: int) -> list[dict[str, Any]]:
    types = ["uint256", "uint256", "address[]", "uint256[]", "bytes32[]"]
    return [
        {
            "from": EXECUTOR,
            "to": setup.executor,
            "data": calldata(
                EXECUTE_BATCH,
                types,
                [plan_id, b.index, list(b.recipients), list(b.amounts), [bytes.fromhex(p[2:]) for p in proof]],
            ),
        }
        for b, proof in zip(setup.batches[plan_id], setup.proofs[plan_id], strict=True)
    ]


def loop_txs(setup: Setup, function: bytes, token: str) -> list[dict[str, Any]]:
    types = ["address", "address[]", "uint256[]"]
    return [
        {
            "from": DEPLOYER,
            "to": setup.disperse,
            "data": calldata(function, types, [token, list(b.recipients), list(b.amounts)]),
        }
        for b in setup.batches[PLAN_PUSH]
    ]


def plain_txs(setup: Setup) -> list[dict[str, Any]]:
    return [
        {"from": DEPLOYER, "to": setup.token, "data": calldata(TRANSFER, ["address", "uint256"], [r, a])}
        for r, a in zip(setup.recipients, setup.paid, strict=True)
    ]


def claim_txs(setup: Setup) -> list[dict[str, Any]]:
    types = ["uint256", "uint256", "address", "uint256", "bytes32[]"]
    txs = []
    for i in setup.claimed:
        index, account, amount = setup.pull_values[i]
        proof = [bytes.fromhex(p[2:]) for p in setup.pull_proofs[i]]
        data = calldata(CLAIM, types, [PLAN_PULL, index, account, amount, proof])
        txs.append({"from": CLAIMER, "to": setup.executor, "data": data})
    return txs


def distributor_txs(setup: Setup) -> list[dict[str, Any]]:
    types = ["uint256", "address", "uint256", "bytes32[]"]
    txs = []
    for i in setup.claimed:
        index, account, amount = setup.pull_values[i]
        data = calldata(DISTRIBUTOR_CLAIM, types, [index, account, amount, setup.distributor_proofs[i]])
        txs.append({"from": CLAIMER, "to": setup.distributor, "data": data})
    return txs


@dataclass(frozen=True)
class Route:
    name: str
    part: str  # restitute, restore or pull
    label: str
    txs: Callable[[Setup], list[dict[str, Any]]]
    gas: int  # the per-transaction gas limit sent
    restore_token: bool = False


PATHS = [
    Route("plain", "restitute", "(a) one plain `transfer` transaction per account", plain_txs, SINGLE_TX_GAS),
    Route(
        "bare_loop",
        "restitute",
        "(b) bare loop `BareDisperse.disperse`",
        lambda s: loop_txs(s, DISPERSE, s.token),
        BATCH_TX_GAS,
    ),
    Route(
        "push",
        "restitute",
        "**RecoveryExecutor** `executeBatch`, Push",
        lambda s: batch_txs(s, PLAN_PUSH),
        BATCH_TX_GAS,
    ),
    Route(
        "fallback",
        "restitute",
        "**RecoveryExecutor** `executeBatch`, PushWithFallback",
        lambda s: batch_txs(s, PLAN_FALLBACK),
        BATCH_TX_GAS,
    ),
    Route(
        "bare_mint_loop",
        "restore",
        "(b) bare loop `BareDisperse.mintAll`",
        lambda s: loop_txs(s, MINT_ALL, s.recovery_token),
        BATCH_TX_GAS,
        True,
    ),
    Route(
        "restore",
        "restore",
        "**RecoveryExecutor** `executeBatch`, Restore (mint)",
        lambda s: batch_txs(s, PLAN_RESTORE),
        BATCH_TX_GAS,
        True,
    ),
    Route(
        "distributor",
        "pull",
        "peer: `BenchMerkleDistributor.claim` (merkle-distributor style)",
        distributor_txs,
        SINGLE_TX_GAS,
    ),
    Route("claim", "pull", "**RecoveryExecutor** `claim`, Pull", claim_txs, SINGLE_TX_GAS),
]


def expected_payments(setup: Setup, path: Route) -> dict[str, int]:
    if path.part == "pull":
        return {setup.pull_values[i][1]: setup.pull_values[i][2] for i in setup.claimed}
    return dict(zip(setup.recipients, setup.paid, strict=True))


def run_path(node: Node, anvil_pid: int, setup: Setup, path: Route, holders: str) -> Measured:
    """Run one path from the current state, check every payment, and put the chain back."""
    token = setup.recovery_token if path.restore_token else setup.token
    expected = expected_payments(setup, path)
    txs = path.txs(setup)
    snapshot = node.rpc.call("evm_snapshot", [])
    try:
        before = node.balances(token, list(expected))
        with measured(watch=anvil_pid) as sample:
            receipts = node.send_all(txs, gas=path.gas)
        after = node.balances(token, list(expected))
    finally:
        if not node.rpc.call("evm_revert", [snapshot]):
            raise RuntimeError("evm_revert failed: the next path would not start from the same state")
    exact = all(after[a.lower()] - before[a.lower()] == amount for a, amount in expected.items())
    credited = sum(1 for r in receipts for log in r["logs"] if log["topics"][0] == CREDITED_TOPIC)
    return Measured(
        path=path.name,
        label=path.label,
        part=path.part,
        holders=holders,
        recipients=len(expected),
        transactions=len(receipts),
        gas=sum(int(r["gasUsed"], 16) for r in receipts),
        wall_seconds=sample.wall,
        cpu_seconds=sample.cpu,
        anvil_cpu_seconds=sample.watched_cpu,
        exact=exact and credited == 0,
        extra={
            "credited_events": credited,
            # The first transaction of a plan also pays its one-time writes (bitmap word, paid): the
            # last one shows the steady per-transaction cost.
            "first_tx_gas": int(receipts[0]["gasUsed"], 16),
            "last_tx_gas": int(receipts[-1]["gasUsed"], 16),
        },
    )


def floors(setup: Setup, per_tx: int) -> dict[str, float]:
    return {
        holders: floor_per_recipient(setup.recipients, setup.paid, per_tx=per_tx, existing=holders == "existing")
        for holders in ("fresh", "existing")
    }


def summarise(rows: list[Measured], floor: dict[str, float]) -> dict[str, Any]:
    """Ratios: each path against its part's peer (the bare loop, the distributor) and against the floor."""
    by = {(r.part, r.path, r.holders): r for r in rows}
    ratios: dict[str, Any] = {}
    for holders in ("fresh", "existing"):
        bare = by[("restitute", "bare_loop", holders)].per_recipient
        for path in ("push", "fallback"):
            ratios[f"{path}_over_bare_loop_{holders}"] = by[("restitute", path, holders)].per_recipient / bare
        mint_bare = by[("restore", "bare_mint_loop", holders)].per_recipient
        restore = by[("restore", "restore", holders)].per_recipient
        ratios[f"restore_over_bare_mint_loop_{holders}"] = restore / mint_bare
        ratios[f"restore_over_floor_{holders}"] = restore / floor[holders]
        ratios[f"bare_mint_loop_over_floor_{holders}"] = mint_bare / floor[holders]
        ratios[f"claim_over_distributor_{holders}"] = (
            by[("pull", "claim", holders)].per_recipient / by[("pull", "distributor", holders)].per_recipient
        )
    ratios["target_holds"] = all(
        ratios[f"{path}_over_bare_loop_{holders}"] <= TARGET_OVER_BARE_LOOP
        for path in ("push", "fallback")
        for holders in ("fresh", "existing")
    )
    return ratios


def table(rows: list[dict[str, Any]], floor: dict[str, float]) -> str:
    peers = {}
    for row in rows:
        if row["path"] in ("bare_loop", "bare_mint_loop", "distributor"):
            peers[(row["part"], row["holders"])] = row["gas"] / row["recipients"]
    lines = [
        "| part | holders | path | txs | gas (receipts) | gas per recipient | x peer | x floor (c) "
        "| wall s | CPU s Python | CPU s anvil |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for part in ("restitute", "restore", "pull"):
        for holders in ("fresh", "existing"):
            peer = peers[(part, holders)]
            for row in (r for r in rows if r["part"] == part and r["holders"] == holders):
                per = row["gas"] / row["recipients"]
                versus_floor = f"{per / floor[holders]:.3f}x" if part != "pull" else "—"
                lines.append(
                    f"| {part} | {holders} | {row['label']} | {row['transactions']:,} | {row['gas']:,} | {per:,.0f} | "
                    f"{per / peer:.4f}x | {versus_floor} | {row['wall_seconds']:.2f} | {row['cpu_seconds']:.2f} | "
                    f"{row['anvil_cpu_seconds']:.2f} |"
                )
            if part != "pull":
                lines.append(
                    f"| {part} | {holders} | (c) floor, EIP-2929/2200 (formula in the script) | — | — | "
                    f"{floor[holders]:,.0f} | {floor[holders] / peer:.4f}x | 1.000x | — | — | — |"
                )
    return "\n".join(lines)


def report(figures: dict[str, Any]) -> str:
    r = figures["ratios"]
    lines = [
        table(figures["rows"], figures["floor"]),
        "",
        f"{figures['accounts']:,} accounts, {figures['per_tx']} a transaction; pull: {figures['claims']:,} claims "
        f"from a {figures['leaves']:,}-leaf tree; anvil {figures['anvil']}, hardfork {figures['hardfork']}.",
    ]
    for holders in ("fresh", "existing"):
        lines.append(
            f"{holders}: executeBatch / bare loop: Push {r[f'push_over_bare_loop_{holders}']:.4f}x, "
            f"PushWithFallback {r[f'fallback_over_bare_loop_{holders}']:.4f}x; restore / bare mint loop "
            f"{r[f'restore_over_bare_mint_loop_{holders}']:.4f}x "
            f"(floor: restore {r[f'restore_over_floor_{holders}']:.3f}x, "
            f"bare mint loop {r[f'bare_mint_loop_over_floor_{holders}']:.3f}x); claim / distributor "
            f"{r[f'claim_over_distributor_{holders}']:.4f}x"
        )
    lines.append(
        f"target (executeBatch at most {TARGET_OVER_BARE_LOOP:.2f}x the bare loop, both deliveries, fresh and "
        f"existing): {'holds' if r['target_holds'] else 'MISSED'}"
    )
    lines.append(describe(figures["machine"]))
    lines.append(f"every payment exact on every path: {'yes' if all(figures['checks'].values()) else 'NO'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts paid by push (default 10,000)")
    parser.add_argument("--per-tx", type=int, default=200, help="recipients a batch transaction (default 200)")
    parser.add_argument("--leaves", type=int, default=10_000, help="allocation-tree leaves for pull (default 10,000)")
    parser.add_argument("--claims", type=int, default=1_000, help="claims sent in pull mode (default 1,000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: 400 accounts, 100 a tx, 50 claims of 1,000")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--show", type=Path, help="print the tables of an earlier run's JSON and exit")
    args = parser.parse_args()
    if args.show:
        print(report(json.loads(args.show.read_text())))
        return 0
    if args.quick:
        args.accounts, args.per_tx, args.leaves, args.claims = 400, 100, 1_000, 50
    if min(args.accounts, args.per_tx, args.leaves, args.claims) < 1 or args.claims > args.leaves:
        parser.error("sizes must be at least 1, and --claims at most --leaves")
    info = machine()
    started = time.perf_counter()
    with Anvil(extra_args=["--base-fee", "0"]) as anvil:
        assert anvil.process is not None
        node = Node(anvil.url)
        version = node.rpc.call("web3_clientVersion", [])
        hardfork = node.rpc.call("anvil_nodeInfo", []).get("hardFork", "unknown")
        setup = set_up(node, count=args.accounts, per_tx=args.per_tx, leaves=args.leaves, claims=args.claims)
        print(
            f"set up in {time.perf_counter() - started:.1f} s: {args.accounts:,} accounts in "
            f"{len(setup.batches[PLAN_PUSH])} batches; pull {len(setup.claimed):,} claims of {args.leaves:,} leaves",
            flush=True,
        )
        rows: list[Measured] = []
        for holders in ("fresh", "existing"):
            if holders == "existing":
                seed_existing(node, setup)
            for path in PATHS:
                row = run_path(node, anvil.process.pid, setup, path, holders)
                rows.append(row)
                print(
                    f"{holders:>8} {path.name:<15} {row.transactions:>6,} txs {row.gas:>14,} gas "
                    f"{row.per_recipient:>9,.0f}/recipient  {row.wall_seconds:6.2f} s  exact: {row.exact}",
                    flush=True,
                )
    floor = floors(setup, args.per_tx)
    figures = {
        "machine": info,
        "anvil": version,
        "hardfork": hardfork,
        "accounts": args.accounts,
        "per_tx": args.per_tx,
        "leaves": args.leaves,
        "claims": len(setup.claimed),
        "floor": floor,
        "rows": [{**vars(row), "per_recipient": row.per_recipient} for row in rows],
        "ratios": summarise(rows, floor),
        "checks": {f"{row.part}_{row.path}_{row.holders}_exact": row.exact for row in rows},
        "seconds": time.perf_counter() - started,
    }
    print()
    print(report(figures))
    print(f"whole run {figures['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(figures["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
