"""Process-level faults of execution: real ``celery worker`` processes SIGKILLed at the batch
sender's failpoints, on Redis and RabbitMQ, two workers on one plan, and the node stopped and
restarted from its dumped state. Each test ends on the chain: every account paid exactly once
(balances), one ``BatchExecuted`` per batch, the executor's nonces unique and gapless.

Database: a worker process cannot open the suite's in-memory SQLite database, so these tests
share a PostgreSQL database of their own with their workers (``tests/recovery/workers.py``:
migrated once per module as a template, copied fresh per test, dropped afterwards), whatever
database the rest of the suite uses. The test process reaches it through ``use_database``.

Broker: Redis db 8 (``LIFEBOAT_FAULTS_REDIS_URL``) with the visibility timeout set to an hour, so
a killed worker's message does not come back during the test: the restarted worker's start-up
reconciliation pass is what completes the batch (the test checks the message is still
unacknowledged at the end). RabbitMQ (``LIFEBOAT_FAULTS_AMQP_URL``) redelivers at once when the
connection drops. Each test has a queue of its own (``tests/recovery/fault_settings.py``),
purged before and after. PostgreSQL, Redis and RabbitMQ are services the suite requires (see
DEVELOPERS.md): when one is not reachable the tests fail, naming it and how to start it.
"""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from web3 import Web3

from chain.artifacts import bind
from recovery.models import BatchSend, ExecutionRun, ExecutionRunStatus
from tests.recovery.test_execution_helpers import ApprovedPlan, balances, make_approved_plan
from tests.recovery.workers import (
    RABBIT_URL,
    REDIS_URL,
    FaultDatabases,
    Worker,
    base_env,
    broker_available,
    manage,
    migrated_databases,
    purge_queue,
    use_database,
    wait_for,
)

pytestmark = [
    pytest.mark.chain,
    pytest.mark.faults,
]

KILL_TIMEOUT = 60  # seconds for an armed worker to reach its failpoint
RUN_TIMEOUT = 120  # seconds for a restarted worker to complete the run


@pytest.fixture(scope="module")
def databases(anvil) -> Iterator[FaultDatabases]:
    with migrated_databases(anvil.url) as dbs:
        yield dbs


@dataclass
class Harness:
    database_url: str
    rpc_url: str
    broker_url: str
    logs: Path
    queue: str = field(default_factory=lambda: f"lifeboat_faults_{uuid.uuid4().hex[:8]}")
    workers: list[Worker] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return base_env(
            database_url=self.database_url, rpc_url=self.rpc_url, broker_url=self.broker_url, queue=self.queue
        )

    def worker(self, failpoints: str = "") -> Worker:
        name = f"w{len(self.workers)}"
        worker = Worker(self.env(), queue=self.queue, log=self.logs / f"{name}.log", name=name, failpoints=failpoints)
        self.workers.append(worker)
        return worker.start()

    def execute(self, approved: ApprovedPlan) -> None:
        manage(["plan", "execute", "--plan", str(approved.plan.pk)], env=self.env())

    def all_logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.output()}" for w in self.workers)

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@contextlib.contextmanager
def harness(databases, tmp_path: Path, rpc_url: str, broker_url: str, django_db_blocker) -> Iterator[Harness]:
    if not broker_available(broker_url):
        pytest.fail(
            f"the broker {broker_url.split('@')[-1]} is not reachable: start it "
            "(redis-server, or rabbitmq-server -detached; see DEVELOPERS.md)"
        )
    url = databases.fresh()
    h = Harness(database_url=url, rpc_url=rpc_url, broker_url=broker_url, logs=tmp_path)
    purge_queue(broker_url, h.queue)
    try:
        with django_db_blocker.unblock(), use_database(url):
            yield h
    finally:
        h.stop_all()
        purge_queue(broker_url, h.queue)
        databases.drop(url)


def run_of(approved: ApprovedPlan) -> ExecutionRun | None:
    return ExecutionRun.objects.filter(plan_asset=approved.plan_asset).first()


def wait_completed(h: Harness, approved: ApprovedPlan) -> ExecutionRun:
    def completed() -> bool:
        run = run_of(approved)
        return run is not None and run.status == ExecutionRunStatus.COMPLETED

    wait_for(completed, timeout=RUN_TIMEOUT, what="the run's completion", logs=h.all_logs)
    run = run_of(approved)
    assert run is not None
    return run


def wait_killed(h: Harness, worker: Worker) -> None:
    wait_for(
        lambda: worker.process is not None and worker.process.poll() is not None,
        timeout=KILL_TIMEOUT,
        what=f"{worker.name} reaching its failpoint",
        logs=h.all_logs,
    )
    assert worker.killed_by_sigkill(), f"{worker.name} ended with {worker.process.returncode}\n{h.all_logs()}"


def batch_executed_counts(w3: Web3, approved: ApprovedPlan, from_block: int) -> dict[int, int]:
    contract = bind(w3, "RecoveryExecutor", approved.executor)
    logs = contract.events.BatchExecuted.get_logs(
        from_block=from_block, argument_filters={"planId": int(approved.plan_asset.onchain_plan_id)}
    )
    counts: dict[int, int] = {}
    for entry in logs:
        counts[entry.args.batchIndex] = counts.get(entry.args.batchIndex, 0) + 1
    return counts


def executor_nonces(w3: Web3, sender: str, from_block: int) -> list[int]:
    nonces = []
    for number in range(from_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True).transactions:
            if tx["from"] == sender:
                nonces.append(tx["nonce"])
    return nonces


def assert_paid_exactly_once(w3: Web3, approved: ApprovedPlan, before: dict[str, int], from_block: int) -> None:
    after = balances(w3, approved.token, approved.payments)
    assert {a: after[a] - before[a] for a in after} == approved.payments
    assert batch_executed_counts(w3, approved, from_block) == {b.index: 1 for b in approved.batches}
    assert all(send.state == "confirmed" for send in BatchSend.objects.filter(run__plan_asset=approved.plan_asset))


def assert_nonces_unique_and_gapless(w3: Web3, sender: str, from_block: int, nonce_before: int) -> None:
    nonces = executor_nonces(w3, sender, from_block)
    assert sorted(nonces) == list(range(nonce_before, w3.eth.get_transaction_count(sender)))


def unacked_on_redis(broker_url: str) -> int:
    import redis

    client = redis.Redis.from_url(broker_url)
    return client.hlen("unacked")


def clear_unacked_on_redis(broker_url: str) -> None:
    """The killed worker's message would come back after the hour: it names rows of a dropped database."""
    import redis

    redis.Redis.from_url(broker_url).delete("unacked", "unacked_index", "unacked_mutex")


@pytest.mark.parametrize("point", ["after_sign", "after_broadcast", "after_receipt"])
def test_a_worker_killed_at_a_failpoint_on_redis_is_completed_by_the_start_up_reconciliation(
    point, w3, demo, deployer, timelock, executor_account, anvil, databases, tmp_path, django_db_blocker
):
    with harness(databases, tmp_path, anvil.url, REDIS_URL, django_db_blocker) as h:
        try:
            from_block = w3.eth.block_number + 1
            nonce_before = w3.eth.get_transaction_count(executor_account.address)
            approved = make_approved_plan(w3, demo, deployer, timelock)
            before = balances(w3, approved.token, approved.payments)
            armed = h.worker(failpoints=point)
            h.execute(approved)
            wait_killed(h, armed)
            assert run_of(approved).status == ExecutionRunStatus.RUNNING

            h.worker()
            wait_completed(h, approved)

            assert_paid_exactly_once(w3, approved, before, from_block)
            assert_nonces_unique_and_gapless(w3, executor_account.address, from_block, nonce_before)
            # The killed worker's message was never redelivered (visibility timeout: an hour):
            # the start-up reconciliation pass, not redelivery, finished its batch.
            assert unacked_on_redis(REDIS_URL) >= 1
        finally:
            h.stop_all()
            clear_unacked_on_redis(REDIS_URL)


def test_two_workers_on_one_plan_send_no_batch_twice_and_use_no_nonce_twice(
    w3, demo, deployer, timelock, executor_account, anvil, databases, tmp_path, django_db_blocker
):
    with harness(databases, tmp_path, anvil.url, REDIS_URL, django_db_blocker) as h:
        from_block = w3.eth.block_number + 1
        nonce_before = w3.eth.get_transaction_count(executor_account.address)
        approved = make_approved_plan(w3, demo, deployer, timelock, batch_count=8)
        before = balances(w3, approved.token, approved.payments)
        h.worker()
        h.worker()
        h.execute(approved)
        wait_completed(h, approved)

        assert_paid_exactly_once(w3, approved, before, from_block)
        assert_nonces_unique_and_gapless(w3, executor_account.address, from_block, nonce_before)


@pytest.mark.parametrize("point", ["after_sign", "after_broadcast", "after_receipt"])
def test_a_worker_killed_at_a_failpoint_on_rabbitmq_is_redelivered_and_completed(
    point, w3, demo, deployer, timelock, executor_account, anvil, databases, tmp_path, django_db_blocker
):
    with harness(databases, tmp_path, anvil.url, RABBIT_URL, django_db_blocker) as h:
        from_block = w3.eth.block_number + 1
        nonce_before = w3.eth.get_transaction_count(executor_account.address)
        approved = make_approved_plan(w3, demo, deployer, timelock)
        before = balances(w3, approved.token, approved.payments)
        armed = h.worker(failpoints=point)
        h.execute(approved)
        wait_killed(h, armed)

        h.worker()
        wait_completed(h, approved)

        assert_paid_exactly_once(w3, approved, before, from_block)
        assert_nonces_unique_and_gapless(w3, executor_account.address, from_block, nonce_before)


def test_the_node_stopped_mid_run_and_restarted_from_its_dumped_state_lets_the_run_complete(
    deployer, executor_account, committee_account, databases, tmp_path, django_db_blocker
):
    """A dedicated anvil (the session's is shared): a worker dies after broadcasting batch 0, the node
    stops (dumping its state) and the next worker starts while it is away, so its start-up pass and
    its batches fail against the dead node; the node comes back from the dump on the same port and
    the run completes through the retried tasks."""
    from chain.anvil import Anvil
    from chain.demo import deploy_demo_stack, seed_holders
    from chain.rpc import connect

    state = tmp_path / "anvil-state.json"
    node = Anvil(extra_args=("--dump-state", str(state))).start()
    restarted: Anvil | None = None
    try:
        w3 = connect(node.url)
        demo = seed_holders(
            w3,
            deploy_demo_stack(
                w3,
                rpc_url=node.url,
                deployer=deployer,
                executor=executor_account.address,
                committee=committee_account.address,
            ),
            deployer=deployer,
            count=12,
        )
        timelock = demo.address("timelock")
        w3.provider.make_request("anvil_impersonateAccount", [timelock])
        w3.provider.make_request("anvil_setBalance", [timelock, hex(10**18)])
        with harness(databases, tmp_path, node.url, REDIS_URL, django_db_blocker) as h:
            try:
                from_block = w3.eth.block_number + 1
                nonce_before = w3.eth.get_transaction_count(executor_account.address)
                approved = make_approved_plan(w3, demo, deployer, timelock)
                before = balances(w3, approved.token, approved.payments)
                armed = h.worker(failpoints="after_broadcast")
                h.execute(approved)
                wait_killed(h, armed)

                node.stop()  # anvil writes its state on the way out
                assert state.exists()
                survivor = h.worker()
                wait_for(
                    lambda: "Retry in" in survivor.output(),
                    timeout=KILL_TIMEOUT,
                    what="the worker meeting the stopped node",
                    logs=h.all_logs,
                )
                restarted = Anvil(port=node.port, extra_args=("--load-state", str(state))).start()
                w3 = connect(restarted.url)
                wait_completed(h, approved)

                assert_paid_exactly_once(w3, approved, before, from_block)
                assert_nonces_unique_and_gapless(w3, executor_account.address, from_block, nonce_before)
            finally:
                h.stop_all()
                clear_unacked_on_redis(REDIS_URL)
    finally:
        node.stop()
        if restarted is not None:
            restarted.stop()
