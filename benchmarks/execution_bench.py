"""Wall time of executing an approved 10,000-account plan through Celery workers, against a plain script and the floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python benchmarks/execution_bench.py [--accounts 10000] [--per-batch 200] [--rounds 2]
                                             [--block-time-rounds 1] [--modes automine,block-time]
                                             [--paths NAME,...] [--quick] [--json OUT] [--show OUT.json]

One plan: ``--accounts`` fresh accounts restituted (delivery push with the claimable fallback),
``--per-batch`` a batch (10,000 / 200 = 50 batches), approved on a fresh anvil started here with
the ten-argument ``approvePlan`` (from the approver, an unlocked dev account) and funded; the
chain is snapshotted there, and every path below starts from that snapshot (``evm_revert``)
and must leave every account's balance exactly its amount, or the run exits non-zero. Two
modes, each on its own anvil: **automine** (a block per transaction) and anvil
``--block-time 1``.

The paths, in rotating rounds (A B C ..., then B C ... A, ...; medians over rounds):

- **Lifeboat**, real ``celery -A config worker --pool=solo`` processes (settings
  ``benchmarks/execution_settings.py``: a queue of the run's own) on a PostgreSQL database of
  their own (a migrated template copied per path, dropped afterwards), the plan's rows written
  as ``plan`` would have them; ``start_plan_execution`` is called here (what ``plan execute``
  does) and the clock stops when the run is *completed* (every batch confirmed). Three setups:
  one worker and one executor key; two workers and two keys (``EXECUTOR_PRIVATE_KEYS``, both
  holding ``EXECUTOR_ROLE``: the batches split between them); two workers and one key (the
  per-key lease serialises the sends).
- **peer**: the web3.py script a user would write: for each batch ``executeBatch`` built with
  ``build_transaction`` (gas estimated, fees suggested), signed, sent, its receipt awaited, the
  next one; with two keys, two threads, each its half of the batches.
- **floor**: every batch transaction signed beforehand (consecutive nonces, gas as Lifeboat
  sets it: the estimate plus ``EXECUTION_GAS_MARGIN_PERCENT``), then sent back to back and the
  last receipt awaited; with two keys, two threads. With ``--block-time 1`` it is bounded by how
  many of them fit in a block (the block gas limit over each transaction's gas limit).

Beside each wall time: CPU-seconds of the workers, of this process (for the peer and the floor
that is the script itself), of anvil, and of the PostgreSQL backends serving the run's database
(read from ``/proc``), and of everything else on the machine. For Lifeboat, where each batch's
time goes, from the task results and the run's events: task start to broadcast (lease, bitmap
check, gas balance, calldata and proof, gas estimate, fees, nonce, signing, the durable write,
broadcast), broadcast to the confirmation recorded (receipt wait), confirmation to task end, and
the gap between one task's end and the worker's next start (broker).
"""

import argparse
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lifeboat"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
_broker = os.environ.get("CELERY_BROKER_URL", "")
BROKER_URL = _broker if _broker.startswith(("redis://", "rediss://", "amqp://")) else DEFAULT_BROKER_URL
QUEUE = f"lifeboat_bench_exec_{uuid.uuid4().hex[:8]}"
SERVER, _, SERVER_DB = DATABASE_URL.rpartition("/")
PREFIX = f"bench_exec_{SERVER_DB.split('?')[0]}_{os.getpid()}"

from eth_utils import keccak, to_checksum_address  # noqa: E402

from chain import devkeys  # noqa: E402

KEY_A = devkeys.EXECUTOR_KEY  # anvil account 1: EXECUTOR_ROLE at deployment
KEY_B = "0x" + keccak(b"lifeboat-execution-bench-second-executor").hex()  # granted EXECUTOR_ROLE in set_up


def _environment(*, database_url: str, rpc_url: str, keys: Sequence[str]) -> dict[str, str]:
    """The environment of this process's Django and of a worker: the run's database, node, broker, queue, keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "DATABASE_", "LIFEBOAT_", "EXECUTOR_", "CHAIN_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.execution_settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        CHAIN_RPC_URL=rpc_url,
        CONFIRMATION_DEPTH="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "lifeboat-execution-bench-" + "x" * 40,
        EXECUTOR_PRIVATE_KEY=keys[0],
        EXECUTOR_PRIVATE_KEYS=",".join(keys[1:]),
        RELAYER_PRIVATE_KEY=devkeys.RELAYER_KEY,
        COMMITTEE_PRIVATE_KEY=devkeys.COMMITTEE_KEY,
        LIFEBOAT_PREFLIGHT_ON_WORKER_START="0",
        LIFEBOAT_BENCH_QUEUE=QUEUE,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_RESULT_BACKEND="django-db",
    )
    return env


# This process: Django on the benchmark's settings (its ORM only ever inside `use_database`).
os.environ.update(_environment(database_url=f"{SERVER}/{PREFIX}_tpl", rpc_url="http://127.0.0.1:1", keys=[KEY_A]))

import django  # noqa: E402

django.setup()

import dj_database_url  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from cputime import backend_cpu, describe, machine, measured, process_cpu_seconds  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.utils import load_backend  # noqa: E402
from django_celery_results.models import TaskResult  # noqa: E402
from eth_account import Account  # noqa: E402
from web3 import Web3  # noqa: E402

from chain.anvil import Anvil  # noqa: E402
from chain.artifacts import bind, factory, load_artifact  # noqa: E402
from chain.balances import read_balances  # noqa: E402
from chain.logs import RawRpc  # noqa: E402
from recovery.commitment import Batch, CommitmentDomain, build_commitment  # noqa: E402
from recovery.execution import start_plan_execution  # noqa: E402
from recovery.models import (  # noqa: E402
    AnalysisStatus,
    BatchSend,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    ImpactAnalysis,
    Incident,
    IncidentKind,
    MigrationBatch,
    PlanAsset,
    RecoveryPlan,
    SentTransaction,
)

DEPLOYER = Account.from_key(devkeys.DEPLOYER_KEY).address  # admin, approver, guardian; holds the supply
SUPPLY = 10**36
RESTITUTE, PUSH_WITH_FALLBACK = 0, 1
WORKER_READY_TIMEOUT = 90
FINISHED = (ExecutionRunStatus.COMPLETED, ExecutionRunStatus.FAILED, ExecutionRunStatus.CANCELLED)


# --- the plan ---------------------------------------------------------------------------------------


def accounts(count: int) -> list[str]:
    """``count`` deterministic fresh addresses (hashes, so about 20 non-zero bytes, as real ones)."""
    return [to_checksum_address(keccak(b"lifeboat-exec-bench" + i.to_bytes(8, "big"))[12:]) for i in range(count)]


def amounts(count: int) -> list[int]:
    """18-decimal amounts between 0.001 and 1,000 tokens."""
    return [10**15 + int.from_bytes(keccak(b"amount" + i.to_bytes(8, "big"))[:8], "big") % 10**21 for i in range(count)]


@dataclass
class Setup:
    url: str
    chain_id: int
    token: str
    executor: str
    plan_id: int
    incident_key: bytes
    reference_block: int
    batches: list[Batch]
    root: str
    proofs: list[list[str]]
    calldata: list[str]
    gas_limits: list[int]  # each batch's estimate plus Lifeboat's margin (the floor's gas limits)
    snapshot: str = ""

    @property
    def payments(self) -> dict[str, int]:
        return {r: a for b in self.batches for r, a in zip(b.recipients, b.amounts, strict=True)}

    @property
    def total(self) -> int:
        return sum(b.total for b in self.batches)


def _transact(w3: Web3, call: Any, sender: str = DEPLOYER) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}), timeout=120, poll_latency=0.05)
    if receipt["status"] != 1:
        raise RuntimeError(f"set-up transaction {receipt['transactionHash'].hex()} reverted")
    return receipt


def set_up(url: str, *, count: int, per_batch: int) -> Setup:
    """Deploy the token and the RecoveryExecutor (two executor keys), fund it and approve the plan."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
    chain_id = int(w3.eth.chain_id)
    token = _transact(w3, factory(w3, "BulkTransferToken").constructor(SUPPLY))["contractAddress"]
    executor_address = _transact(
        w3,
        factory(w3, "RecoveryExecutor").constructor(DEPLOYER, DEPLOYER, Account.from_key(KEY_A).address, DEPLOYER),
    )["contractAddress"]
    executor = bind(w3, "RecoveryExecutor", executor_address)
    second = Account.from_key(KEY_B).address
    _transact(w3, executor.functions.grantRole(executor.functions.EXECUTOR_ROLE().call(), second))
    for key in (KEY_A, KEY_B):
        w3.provider.make_request("anvil_setBalance", [Account.from_key(key).address, hex(10**24)])
    recipients, paid = accounts(count), amounts(count)
    batches = [
        Batch(i // per_batch, tuple(recipients[i : i + per_batch]), tuple(paid[i : i + per_batch]))
        for i in range(0, count, per_batch)
    ]
    plan_id = int.from_bytes(keccak(b"lifeboat-execution-bench-plan"), "big")
    incident_key = keccak(b"lifeboat-execution-bench-incident")
    tree = build_commitment(batches, domain=CommitmentDomain(chain_id, executor_address, plan_id))
    total = sum(b.total for b in batches)
    _transact(w3, bind(w3, "BulkTransferToken", token).functions.transfer(executor_address, total))
    reference_block = int(w3.eth.block_number)
    _transact(
        w3,
        executor.functions.approvePlan(
            plan_id,
            incident_key,
            1,
            bytes.fromhex(tree.root[2:]),
            token,
            RESTITUTE,
            PUSH_WITH_FALLBACK,
            len(batches),
            total,
            0,
        ),
    )
    proofs = [tree.get_proof(b.index) for b in batches]
    calldata = [
        executor.encode_abi("executeBatch", args=[plan_id, b.index, list(b.recipients), list(b.amounts), proof])
        for b, proof in zip(batches, proofs, strict=True)
    ]
    margin = 100 + settings.EXECUTION_GAS_MARGIN_PERCENT
    gas_limits = [
        int(w3.eth.estimate_gas({"from": Account.from_key(KEY_A).address, "to": executor_address, "data": data}))
        * margin
        // 100
        for data in calldata
    ]
    setup = Setup(
        url=url,
        chain_id=chain_id,
        token=token,
        executor=executor_address,
        plan_id=plan_id,
        incident_key=incident_key,
        reference_block=reference_block,
        batches=batches,
        root=tree.root,
        proofs=proofs,
        calldata=calldata,
        gas_limits=gas_limits,
    )
    before = read_balances(RawRpc(url, timeout=300), token, list(setup.payments), int(w3.eth.block_number))
    if any(before.values()):
        raise RuntimeError("the benchmark's accounts must start with nothing")
    setup.snapshot = _rpc(url, "evm_snapshot", [])
    return setup


def _rpc(url: str, method: str, params: list[Any], session: requests.Session | None = None) -> Any:
    reply = (
        (session or requests)
        .post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=120)
        .json()
    )
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def store_plan(setup: Setup) -> int:
    """The approved plan's rows as Lifeboat stores them (incident, analysis, plan, asset, batches); its id."""
    incident = Incident.objects.create(
        title="execution benchmark", kind=IncidentKind.PROTOCOL_EXPLOIT, chain_id=setup.chain_id, opened_via="cli"
    )
    analysis = ImpactAnalysis.objects.create(
        incident=incident,
        rollback_block=0,
        reference_block=setup.reference_block,
        status=AnalysisStatus.COMPLETED,
    )
    plan = RecoveryPlan.objects.create(
        incident=incident,
        analysis=analysis,
        version=1,
        mode="restitute",
        policy="full",
        status="committed",
        delivery="push_fallback",
        recovery_executor=setup.executor,
    )
    plan_asset = PlanAsset.objects.create(
        plan=plan,
        asset=setup.token,
        payout_token=setup.token,
        budget=setup.total,
        total_claims=setup.total,
        total_allocated=setup.total,
        commitment_root=setup.root,
        onchain_plan_id=setup.plan_id,
    )
    MigrationBatch.objects.bulk_create(
        MigrationBatch(
            plan_asset=plan_asset,
            index=b.index,
            recipients=list(b.recipients),
            amounts=[str(a) for a in b.amounts],
            total=b.total,
            leaf_hash="0x",
            gas_estimate=gas,
        )
        for b, gas in zip(setup.batches, setup.gas_limits, strict=True)
    )
    return plan.pk


# --- databases and workers (as tests/recovery/workers.py, for a benchmark) ----------------------------


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5)


class Databases:
    """A migrated template and fresh copies of it, one per Lifeboat path, all dropped at the end."""

    def __init__(self) -> None:
        self.template = f"{PREFIX}_tpl"
        self.names: list[str] = []

    def create_template(self) -> float:
        started = time.perf_counter()
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.template}"')
        self.names.append(self.template)
        env = _environment(database_url=f"{SERVER}/{self.template}", rpc_url="http://127.0.0.1:1", keys=[KEY_A])
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrating the template database failed:\n{result.stderr[-3000:]}")
        return time.perf_counter() - started

    def fresh(self) -> str:
        name = f"{PREFIX}_{len(self.names)}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.names.append(name)
        return name

    def drop(self, name: str) -> None:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for name in reversed(self.names):
            with contextlib.suppress(psycopg.Error):
                self.drop(name)


@contextlib.contextmanager
def use_database(name: str) -> Iterator[None]:
    """Django's ``default`` connection of this process on database ``name`` for the duration."""
    config = connections.configure_settings({"default": dj_database_url.parse(f"{SERVER}/{name}")})["default"]
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, "default")
    previous = connections["default"]
    connections["default"] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections["default"] = previous


class Worker:
    """One ``celery worker --pool=solo`` process on the run's queue; ended by its PID."""

    def __init__(self, env: dict[str, str], *, name: str, log: Path) -> None:
        self.env, self.name, self.log = env, name, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Worker":
        celery = ROOT / ".venv" / "bin" / "celery"
        output = open(self.log, "wb")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [
                str(celery) if celery.exists() else "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-Q",
                QUEUE,
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        output.close()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start-up:\n{self.output()}")
            if " ready." in self.output():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready within {WORKER_READY_TIMEOUT} s:\n{self.output()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


def purge_queue() -> None:
    from kombu import Connection

    with Connection(BROKER_URL, connect_timeout=3) as connection:
        channel = connection.channel()
        with contextlib.suppress(Exception):
            channel.queue_purge(QUEUE)
        with contextlib.suppress(Exception):
            channel.queue_delete(QUEUE)


# --- the paths ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    kind: str  # lifeboat, peer or floor
    keys: int
    workers: int
    label: str


ROUTES = [
    Route("lifeboat_1w_1k", "lifeboat", 1, 1, "**Lifeboat**, 1 worker, 1 key"),
    Route("lifeboat_2w_2k", "lifeboat", 2, 2, "**Lifeboat**, 2 workers, 2 keys"),
    Route("lifeboat_2w_1k", "lifeboat", 1, 2, "**Lifeboat**, 2 workers, 1 key (lease shared)"),
    Route("peer_1k", "peer", 1, 0, "peer: web3.py script, 1 key"),
    Route("peer_2k", "peer", 2, 0, "peer: web3.py script, 2 keys, 2 threads"),
    Route("floor_1k", "floor", 1, 0, "floor: pre-signed, back to back, 1 key"),
    Route("floor_2k", "floor", 2, 0, "floor: pre-signed, back to back, 2 keys, 2 threads"),
]
# Lifeboat path -> the peer and the floor with the same keys.
PAIRS = {
    "lifeboat_1w_1k": ("peer_1k", "floor_1k"),
    "lifeboat_2w_2k": ("peer_2k", "floor_2k"),
    "lifeboat_2w_1k": ("peer_1k", "floor_1k"),
}


def split(setup: Setup, keys: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Each key with its batch indexes: the same deterministic split as Lifeboat's (index modulo keys, by address)."""
    ordered = sorted(keys, key=lambda k: Account.from_key(k).address)
    return [(key, [b.index for b in setup.batches if b.index % len(ordered) == k]) for k, key in enumerate(ordered)]


@dataclass
class Outcome:
    tx_hashes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def run_peer(setup: Setup, keys: Sequence[str]) -> Outcome:
    """What a user writes with web3.py: build, sign, send, wait for the receipt, next batch."""
    abi = load_artifact("RecoveryExecutor").abi
    outcome = Outcome()

    def one(key: str, indexes: list[int]) -> list[str]:
        w3 = Web3(Web3.HTTPProvider(setup.url))
        account = Account.from_key(key)
        contract = w3.eth.contract(address=setup.executor, abi=abi)
        hashes = []
        for index in indexes:
            batch = setup.batches[index]
            tx = contract.functions.executeBatch(
                setup.plan_id, index, list(batch.recipients), list(batch.amounts), setup.proofs[index]
            ).build_transaction({"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)})
            signed = account.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
            if receipt["status"] != 1:
                raise RuntimeError(f"batch {index} reverted ({tx_hash.hex()})")
            hashes.append("0x" + bytes(tx_hash).hex())
        return hashes

    parts = split(setup, keys)
    with ThreadPoolExecutor(len(parts)) as pool:
        for hashes in [pool.submit(one, key, indexes) for key, indexes in parts]:
            outcome.tx_hashes += hashes.result()
    return outcome


def presign(setup: Setup, keys: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Per key, its batches' transactions signed with consecutive nonces: (raw, hash)."""
    w3 = Web3(Web3.HTTPProvider(setup.url))
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    priority = 10**9
    signed = []
    for key, indexes in split(setup, keys):
        account = Account.from_key(key)
        nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
        mine = []
        for offset, index in enumerate(indexes):
            tx = {
                "type": 2,
                "chainId": setup.chain_id,
                "nonce": nonce + offset,
                "to": setup.executor,
                "data": setup.calldata[index],
                "gas": setup.gas_limits[index],
                "value": 0,
                # Room for the base fee to rise 12.5% a full block for a dozen blocks.
                "maxFeePerGas": 5 * base_fee + priority,
                "maxPriorityFeePerGas": priority,
            }
            raw = account.sign_transaction(tx)
            mine.append(("0x" + bytes(raw.raw_transaction).hex(), "0x" + bytes(raw.hash).hex()))
        signed.append(mine)
    return signed


def run_floor(setup: Setup, signed: list[list[tuple[str, str]]]) -> Outcome:
    """Send each key's pre-signed transactions back to back, then wait for its last receipt."""

    def one(transactions: list[tuple[str, str]]) -> list[str]:
        session = requests.Session()
        for raw, _ in transactions:
            _rpc(setup.url, "eth_sendRawTransaction", [raw], session)
        last = transactions[-1][1]
        while _rpc(setup.url, "eth_getTransactionReceipt", [last], session) is None:
            time.sleep(0.01)
        return [tx_hash for _, tx_hash in transactions]

    outcome = Outcome()
    with ThreadPoolExecutor(len(signed)) as pool:
        for hashes in [pool.submit(one, transactions) for transactions in signed]:
            outcome.tx_hashes += hashes.result()
    return outcome


def _receipts(setup: Setup, hashes: Sequence[str]) -> list[dict[str, Any]]:
    rpc = RawRpc(setup.url, timeout=120)
    replies = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    return [reply.get("result") for reply in replies]


def block_packing(setup: Setup, hashes: Sequence[str]) -> dict[str, Any]:
    """How the path's transactions landed: blocks used, most in one block, gas used, all status 1."""
    receipts = _receipts(setup, hashes)
    per_block: dict[int, int] = {}
    for receipt in receipts:
        if receipt is None or receipt["status"] != "0x1":
            return {"all_succeeded": False}
        number = int(receipt["blockNumber"], 16)
        per_block[number] = per_block.get(number, 0) + 1
    return {
        "all_succeeded": True,
        "blocks": len(per_block),
        "most_in_a_block": max(per_block.values()),
        "first_block": min(per_block),
        "last_block": max(per_block),
        "median_gas_used": int(statistics.median(int(r["gasUsed"], 16) for r in receipts)),
    }


@dataclass
class Row:
    mode: str
    round: int
    path: str
    wall: float
    cpu_workers: float
    cpu_self: float
    cpu_anvil: float
    cpu_postgres: float
    cpu_other: float
    exact: bool
    extra: dict[str, Any] = field(default_factory=dict)


class Bench:
    def __init__(self, *, databases: Databases, logs: Path) -> None:
        self.databases = databases
        self.logs = logs
        self.worker_count = 0

    def run(self, mode: str, round_: int, route: Route, setup: Setup, anvil_pid: int) -> Row:
        keys = [KEY_A, KEY_B][: route.keys]
        if route.kind == "lifeboat":
            row = self._lifeboat(mode, round_, route, setup, anvil_pid, keys)
        else:
            signed = presign(setup, keys) if route.kind == "floor" else []
            with measured(watch=anvil_pid) as sample:
                outcome = run_peer(setup, keys) if route.kind == "peer" else run_floor(setup, signed)
            row = Row(
                mode=mode,
                round=round_,
                path=route.name,
                wall=sample.wall,
                cpu_workers=0.0,
                cpu_self=sample.cpu,
                cpu_anvil=sample.watched_cpu,
                cpu_postgres=0.0,
                cpu_other=sample.other_cpu,
                exact=False,
                extra=block_packing(setup, outcome.tx_hashes),
            )
        row.exact = self._check_and_revert(setup) and row.extra.get("all_succeeded", False)
        return row

    def _check_and_revert(self, setup: Setup) -> bool:
        """Every account's balance is exactly its amount; then the chain goes back to the snapshot."""
        head = int(_rpc(setup.url, "eth_blockNumber", []), 16)
        paid = read_balances(RawRpc(setup.url, timeout=300), setup.token, list(setup.payments), head)
        exact = all(paid[account.lower()] == amount for account, amount in setup.payments.items())
        if not _rpc(setup.url, "evm_revert", [setup.snapshot]):
            raise RuntimeError("evm_revert failed: the next path would not start from the same state")
        setup.snapshot = _rpc(setup.url, "evm_snapshot", [])
        return exact

    def _lifeboat(self, mode: str, round_: int, route: Route, setup: Setup, anvil_pid: int, keys: list[str]) -> Row:
        database = self.databases.fresh()
        workers: list[Worker] = []
        purge_queue()
        try:
            with use_database(database):
                plan_id = store_plan(setup)
            env = _environment(database_url=f"{SERVER}/{database}", rpc_url=setup.url, keys=keys)
            for _ in range(route.workers):
                self.worker_count += 1
                name = f"w{self.worker_count}"
                workers.append(Worker(env, name=name, log=self.logs / f"{name}.log").start())
            for worker in workers:
                worker.wait_ready()
            settings.CHAIN_RPC_URL = setup.url
            settings.EXECUTOR_PRIVATE_KEYS = keys[1:]
            w3 = Web3(Web3.HTTPProvider(setup.url, request_kwargs={"timeout": 120}))
            timeout = 120 + 5 * len(setup.batches)
            with use_database(database):
                pg_before = backend_cpu(database)
                workers_before = {w.pid: process_cpu_seconds(w.pid) for w in workers}
                with measured(watch=anvil_pid) as sample:
                    run = start_plan_execution(plan_id=plan_id, actor=None, via="cli", w3=w3)
                    deadline = time.monotonic() + timeout
                    while run.status not in FINISHED:
                        if time.monotonic() > deadline:
                            raise RuntimeError(
                                f"run {run.pk} still {run.status} after {timeout} s\n"
                                + "\n".join(f"--- {w.name}\n{w.output()}" for w in workers)
                            )
                        time.sleep(0.05)
                        run.refresh_from_db()
                cpu_workers = sum(process_cpu_seconds(w.pid) - workers_before[w.pid] for w in workers)
                pg_after = backend_cpu(database)
                cpu_postgres = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())
                extra = lifeboat_breakdown(run)
        finally:
            for worker in workers:
                worker.stop()
            purge_queue()
        self.databases.drop(database)
        return Row(
            mode=mode,
            round=round_,
            path=route.name,
            wall=sample.wall,
            cpu_workers=cpu_workers,
            cpu_self=sample.cpu,
            cpu_anvil=sample.watched_cpu,
            cpu_postgres=cpu_postgres,
            cpu_other=max(0.0, sample.other_cpu - cpu_workers - cpu_postgres),
            exact=False,
            extra={**extra, **block_packing(setup, extra["tx_hashes"])},
        )


def lifeboat_breakdown(run: ExecutionRun) -> dict[str, Any]:
    """Where each batch's time went (task results and the run's events), and what the run wrote."""
    sends = {s.pk: s for s in BatchSend.objects.filter(run=run)}
    events: dict[tuple[str, int], float] = {}
    for event in ExecutionEvent.objects.filter(run=run, kind__in=("sent", "confirmed")):
        index = event.data.get("index")
        if index is not None:
            events.setdefault((event.kind, index), event.created_at.timestamp())
    tasks = []
    for result in TaskResult.objects.filter(task_name="recovery.tasks_execution.send_batch"):
        args = [int(x) for x in re.findall(r"\d+", result.task_args or "")]  # the repr of the task's args
        if not args or args[0] not in sends:
            continue
        started = result.date_started or result.date_created
        tasks.append((result.worker or "", started.timestamp(), result.date_done.timestamp(), sends[args[0]].index))
    prep, wait, tail, gaps = [], [], [], []
    for _, started, done, index in tasks:
        sent, confirmed = events.get(("sent", index)), events.get(("confirmed", index))
        if sent is not None and confirmed is not None:
            prep.append(sent - started)
            wait.append(confirmed - sent)
            tail.append(done - confirmed)
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for worker, started, done, _ in tasks:
        by_worker.setdefault(worker, []).append((started, done))
    for spans in by_worker.values():
        spans.sort()
        gaps += [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(spans)]
    confirmed = [s for s in sends.values() if s.state == "confirmed"]

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    return {
        "run_status": run.status,
        "batches_confirmed": len(confirmed),
        "batches": len(sends),
        "tx_hashes": [s.tx_hash for s in confirmed],
        "tasks_recorded": len(tasks),
        "task_retries_or_duplicates": len(tasks) - len(sends),
        "per_batch_seconds": {
            "task_start_to_broadcast": median(prep),
            "broadcast_to_confirmed": median(wait),
            "confirmed_to_task_end": median(tail),
            "between_tasks_on_a_worker": median(gaps),
        },
        "rows_written": {
            "execution_events": ExecutionEvent.objects.filter(run=run).count(),
            "sent_transactions": SentTransaction.objects.filter(batch_send__run=run).count(),
            "task_results": TaskResult.objects.count(),
        },
        "confirmed_by": sorted({s.confirmed_by for s in confirmed}),
    }


# --- figures -----------------------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode and path: medians and bests; per Lifeboat path: paired medians of the ratios to peer and floor."""
    summary: dict[str, Any] = {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        in_mode = [r for r in rows if r["mode"] == mode]
        paths: dict[str, Any] = {}
        for name in dict.fromkeys(r["path"] for r in in_mode):
            mine = [r for r in in_mode if r["path"] == name]
            paths[name] = {
                "rounds": len(mine),
                "wall": statistics.median(r["wall"] for r in mine),
                "best_wall": min(r["wall"] for r in mine),
                **{
                    column: statistics.median(r[column] for r in mine)
                    for column in ("cpu_workers", "cpu_self", "cpu_anvil", "cpu_postgres", "cpu_other")
                },
                "exact": all(r["exact"] for r in mine),
            }
            if name in PAIRS:
                for versus, other in zip(("peer", "floor"), PAIRS[name], strict=True):
                    ratios = [
                        r["wall"] / o["wall"]
                        for r in mine
                        for o in in_mode
                        if o["path"] == other and o["round"] == r["round"] and o["wall"] > 0
                    ]
                    paths[name][f"x_{versus}"] = statistics.median(ratios) if ratios else None
        summary[mode] = paths
    return summary


LABELS = {route.name: route.label for route in ROUTES}


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def table(figures: dict[str, Any]) -> str:
    lines = []
    for mode, paths in figures["summary"].items():
        lines += [
            f"### {mode}",
            "",
            "| path | wall s (median) | best wall s | CPU s workers | CPU s bench/script | CPU s anvil "
            "| CPU s PostgreSQL | other CPU s | x peer | x floor | blocks | most txs in a block | exact |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, p in paths.items():
            last = [r for r in figures["rows"] if r["mode"] == mode and r["path"] == name][-1]["extra"]
            lines.append(
                f"| {LABELS.get(name, name)} | {p['wall']:.2f} | {p['best_wall']:.2f} | {p['cpu_workers']:.2f} | "
                f"{p['cpu_self']:.2f} | {p['cpu_anvil']:.2f} | {p['cpu_postgres']:.2f} | {p['cpu_other']:.2f} | "
                f"{_x(p.get('x_peer'))} | {_x(p.get('x_floor'))} | {last.get('blocks', '—')} | "
                f"{last.get('most_in_a_block', '—')} | {'yes' if p['exact'] else 'NO'} |"
            )
        lines.append("")
        lines += [
            "| Lifeboat path (medians per batch, s) | task start → broadcast | broadcast → confirmed "
            "| confirmed → task end | between tasks on a worker | events written | tasks / batches |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name in paths:
            if name not in PAIRS:
                continue
            last = [r for r in figures["rows"] if r["mode"] == mode and r["path"] == name][-1]["extra"]
            per = last["per_batch_seconds"]
            cells = " | ".join("—" if per[k] is None else f"{per[k]:.3f}" for k in per)
            lines.append(
                f"| {LABELS[name]} | {cells} | {last['rows_written']['execution_events']} | "
                f"{last['tasks_recorded']} / {last['batches']} |"
            )
        lines.append("")
    return "\n".join(lines)


def report(figures: dict[str, Any]) -> str:
    return "\n".join(
        [
            table(figures),
            f"{figures['accounts']:,} accounts in {figures['batches']} batches of {figures['per_batch']} "
            f"(restitute, push with fallback); rounds: {figures['rounds']}; anvil {figures['anvil']}; "
            f"block gas limit {figures['block_gas_limit']:,}; a batch transaction's gas limit up to "
            f"{figures['batch_gas_limit']:,}, gas used {figures['batch_gas_used']:,} (median): at most "
            f"{figures['block_gas_limit'] // figures['batch_gas_used']} fit in a block by gas used.",
            describe(figures["machine"]),
            f"every account paid exactly on every path: {'yes' if figures['all_exact'] else 'NO'}",
        ]
    )


MODES = {"automine": None, "block-time": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts paid (default 10,000)")
    parser.add_argument("--per-batch", type=int, default=200, help="recipients a batch (default 200)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds with automine (default 1)")
    parser.add_argument("--block-time-rounds", type=int, default=1, help="rounds with --block-time 1 (default 1)")
    parser.add_argument("--modes", default="automine,block-time", help="automine, block-time or both (default)")
    parser.add_argument("--paths", default=",".join(r.name for r in ROUTES), help="paths to run (default all)")
    parser.add_argument("--quick", action="store_true", help="tiny: 40 accounts, 10 a batch, 1 worker, automine")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--show", type=Path, help="print the tables of an earlier run's JSON and exit")
    args = parser.parse_args()
    if args.show:
        print(report(json.loads(args.show.read_text())))
        return 0
    if args.quick:
        args.accounts, args.per_batch, args.rounds, args.modes = 40, 10, 1, "automine"
        args.paths = "lifeboat_1w_1k,peer_1k,floor_1k"
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    names = [p.strip() for p in args.paths.split(",") if p.strip()]
    known = {r.name for r in ROUTES}
    if set(modes) - set(MODES) or set(names) - known or not modes or not names:
        parser.error(f"modes: {', '.join(MODES)}; paths: {', '.join(known)}")
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must name a PostgreSQL server: the workers are separate processes")
    routes = [r for r in ROUTES if r.name in names]
    info = machine()
    started = time.perf_counter()
    databases = Databases()
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    logs = ROOT / "var" / "bench-execution" / PREFIX
    logs.mkdir(parents=True, exist_ok=True)
    try:
        if any(r.kind == "lifeboat" for r in routes):
            print(f"template database migrated in {databases.create_template():.1f} s", flush=True)
        bench = Bench(databases=databases, logs=logs)
        for mode in modes:
            rounds = args.rounds if mode == "automine" else args.block_time_rounds
            with Anvil(block_time=MODES[mode]) as anvil:
                assert anvil.process is not None
                begun = time.perf_counter()
                setup = set_up(anvil.url, count=args.accounts, per_batch=args.per_batch)
                figures.setdefault("anvil", _rpc(anvil.url, "web3_clientVersion", []))
                figures["block_gas_limit"] = int(
                    _rpc(anvil.url, "eth_getBlockByNumber", ["latest", False])["gasLimit"], 16
                )
                figures["batch_gas_limit"] = max(setup.gas_limits)
                print(
                    f"\n{mode}: set up in {time.perf_counter() - begun:.1f} s: {args.accounts:,} accounts, "
                    f"{len(setup.batches)} batches, gas limit per batch up to {max(setup.gas_limits):,}",
                    flush=True,
                )
                for round_ in range(rounds):
                    order = routes[round_ % len(routes) :] + routes[: round_ % len(routes)]
                    for route in order:
                        row = bench.run(mode, round_, route, setup, anvil.process.pid)
                        rows.append(row)
                        print(
                            f"{mode:>10} round {round_} {route.name:<15} {row.wall:7.2f} s  workers "
                            f"{row.cpu_workers:6.2f} CPU s  anvil {row.cpu_anvil:6.2f}  pg {row.cpu_postgres:5.2f}  "
                            f"exact: {row.exact}",
                            flush=True,
                        )
    finally:
        databases.drop_all()
        with contextlib.suppress(Exception):
            purge_queue()
    used = [row.extra["median_gas_used"] for row in rows if "median_gas_used" in row.extra]
    figures["batch_gas_used"] = int(statistics.median(used)) if used else 1
    dumped = [vars(row) for row in rows]
    for row in dumped:
        row["extra"].pop("tx_hashes", None)
    figures.update(
        machine=info,
        accounts=args.accounts,
        per_batch=args.per_batch,
        batches=-(-args.accounts // args.per_batch),
        rounds={mode: args.rounds if mode == "automine" else args.block_time_rounds for mode in modes},
        rows=dumped,
        summary=summarise(dumped),
        all_exact=all(row.exact for row in rows),
        seconds=time.perf_counter() - started,
    )
    print()
    print(report(figures))
    print(f"whole run {figures['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0 if figures["all_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
