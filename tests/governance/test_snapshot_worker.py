"""A passed Snapshot proposal approved by real worker processes exactly once, across a SIGKILL and a restart.

A real ``celery worker`` runs ``follow_snapshot_proposals`` (the beat task) on its own PostgreSQL
database (``tests/recovery/workers.py``) against the session's anvil; it is SIGKILLed right after
broadcasting the first ``approvePlan`` (failpoint ``snapshot_after_broadcast``). A new worker runs
the task again: one ``PlanApproved`` per plan on chain, the committee's nonces used once each, the
approval confirmed. Following again after another restart sends nothing.

The proposal row is made here as following leaves a passed proposal (outcome *passed*), so the
task's approval step is what runs. Broker: Redis (``LIFEBOAT_FAULTS_REDIS_URL``; db 12 for this
file's author), a queue of the test's own.
"""

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import Celery
from django.utils import timezone

from chain.artifacts import bind
from chain.demo import holder_account
from chain.transact import send
from governance.models import PlanApproval
from governance.models.snapshot import SnapshotApproval, SnapshotApprovalStatus, SnapshotProposal, SnapshotVenue
from governance.snapshot_approval import approval_calls
from tests.governance.governors import dev_venue, frozen_document, make_publishable, mine
from tests.recovery.workers import (
    REDIS_URL,
    FaultDatabases,
    Worker,
    base_env,
    broker_available,
    migrated_databases,
    purge_queue,
    use_database,
    wait_for,
)
from tests.snapshot_hub import SPACE_ID

pytestmark = [pytest.mark.chain, pytest.mark.faults]

FOLLOW = "governance.tasks_snapshot.follow_snapshot_proposals"
KILL_TIMEOUT = 60
RUN_TIMEOUT = 120


@pytest.fixture(scope="module")
def databases(anvil) -> Iterator[FaultDatabases]:
    with migrated_databases(anvil.url) as dbs:
        yield dbs


@dataclass
class Harness:
    database_url: str
    rpc_url: str
    logs: Path
    queue: str = field(default_factory=lambda: f"lifeboat_snapshot_{uuid.uuid4().hex[:8]}")
    workers: list[Worker] = field(default_factory=list)

    def worker(self, failpoints: str = "") -> Worker:
        name = f"w{len(self.workers)}"
        env = base_env(database_url=self.database_url, rpc_url=self.rpc_url, broker_url=REDIS_URL, queue=self.queue)
        env["SNAPSHOT_AUTO_APPROVE"] = "1"
        worker = Worker(env, queue=self.queue, log=self.logs / f"{name}.log", name=name, failpoints=failpoints)
        self.workers.append(worker)
        return worker.start()

    def follow(self) -> str:
        """Enqueue the beat task for this test's workers; its task id."""
        client = Celery("lifeboat-test", broker=REDIS_URL)
        try:
            # Celery prefers CELERY_BROKER_URL from the environment (the suite's broker) to `broker=`:
            # name the workers' broker on the connection itself.
            with client.connection_for_write(url=REDIS_URL) as connection:
                return client.send_task(FOLLOW, queue=self.queue, connection=connection).id
        finally:
            client.close()

    def all_logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.output()}" for w in self.workers)

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@contextlib.contextmanager
def harness(databases, tmp_path: Path, rpc_url: str, django_db_blocker) -> Iterator[Harness]:
    if not broker_available(REDIS_URL):
        pytest.fail(f"Redis at {REDIS_URL.split('@')[-1]} is not reachable: start redis-server (DEVELOPERS.md)")
    url = databases.fresh()
    h = Harness(database_url=url, rpc_url=rpc_url, logs=tmp_path)
    purge_queue(REDIS_URL, h.queue)
    try:
        with django_db_blocker.unblock(), use_database(url):
            yield h
    finally:
        h.stop_all()
        purge_queue(REDIS_URL, h.queue)
        _clear_unacked()
        databases.drop(url)


def _clear_unacked() -> None:
    """The killed worker's message would come back after the visibility timeout, naming a dropped database."""
    import redis

    redis.Redis.from_url(REDIS_URL).delete("unacked", "unacked_index", "unacked_mutex")


def passed_proposal(demo, document, approver: str) -> SnapshotProposal:
    venue = SnapshotVenue.objects.create(
        space="lifeboat-worker.eth",
        chain_id=demo.chain_id,
        sequencer_url="http://127.0.0.1:9/",
        hub_url="http://127.0.0.1:9/graphql",
        recovery_executor=demo.address("recovery_executor"),
        approver=approver,
        token=demo.address("token"),
        voting_period=3600,
    )
    now = int(timezone.now().timestamp())
    return SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status="created",
        proposal_id="0x" + "ef" * 32,
        envelope={},
        author=approver,
        timestamp=now - 7200,
        start=now - 7200,
        end=now - 3600,
        snapshot=1,
        snapshot_block_hash="0x" + "00" * 32,
        state="closed",
        outcome="passed",
    )


def task_done(task_id: str) -> bool:
    from django_celery_results.models import TaskResult

    return TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists()


def approval_status(proposal: SnapshotProposal) -> str:
    approval = SnapshotApproval.objects.filter(proposal=proposal).first()
    return approval.status if approval else ""


def test_worker_killed_after_the_approval_broadcast_approves_each_plan_once(
    w3, anvil, demo, exploited, chain_settings, committee_account, databases, tmp_path, django_db_blocker
):
    with harness(databases, tmp_path, anvil.url, django_db_blocker) as h:
        document = frozen_document(anvil, exploited, recovery_executor=demo.address("recovery_executor"))
        proposal = passed_proposal(demo, document, committee_account.address)
        calls = approval_calls(proposal)
        plan_ids = sorted(int(call.args[0]) for call in calls)
        from_block = w3.eth.block_number + 1
        nonce_before = w3.eth.get_transaction_count(committee_account.address)

        armed = h.worker(failpoints="snapshot_after_broadcast")
        h.follow()
        wait_for(lambda: armed.process.poll() is not None, timeout=KILL_TIMEOUT, what="the kill", logs=h.all_logs)
        assert armed.killed_by_sigkill(), h.all_logs()
        stored = SnapshotApproval.objects.get(proposal=proposal)
        assert stored.status == SnapshotApprovalStatus.SENDING and len(stored.transactions) == len(calls)

        h.worker()
        task = h.follow()
        wait_for(
            lambda: approval_status(proposal) == SnapshotApprovalStatus.CONFIRMED,
            timeout=RUN_TIMEOUT,
            what="the approval's confirmation",
            logs=h.all_logs,
        )
        wait_for(lambda: task_done(task), timeout=RUN_TIMEOUT, what="the second run", logs=h.all_logs)

        executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
        approved = executor.events.PlanApproved().get_logs(from_block=from_block)
        assert sorted(int(log["args"]["planId"]) for log in approved) == plan_ids
        assert w3.eth.get_transaction_count(committee_account.address) == nonce_before + len(calls)
        assert {log["transactionHash"].to_0x_hex() for log in approved} == {tx["tx_hash"] for tx in stored.transactions}
        assert PlanApproval.objects.filter(snapshot_proposal=proposal).count() == len(calls)

        # A restart, and the beat task again: nothing is sent.
        h.stop_all()
        h.worker()
        again = h.follow()
        wait_for(lambda: task_done(again), timeout=RUN_TIMEOUT, what="the run after the restart", logs=h.all_logs)
        assert w3.eth.get_transaction_count(committee_account.address) == nonce_before + len(calls)
        assert len(executor.events.PlanApproved().get_logs(from_block=from_block)) == len(calls)
        assert approval_status(proposal) == SnapshotApprovalStatus.CONFIRMED


def test_published_voted_closed_proposal_is_followed_and_approved_once_across_a_worker_kill(
    w3,
    anvil,
    demo,
    deployer,
    exploited,
    chain_settings,
    committee_account,
    snapshot_hub,
    databases,
    tmp_path,
    django_db_blocker,
):
    from governance.snapshot_messages import AGAINST, FOR, sign
    from governance.snapshot_publishing import publish_to_snapshot
    from governance.snapshot_venues import add_snapshot_venue
    from governance.snapshot_votes import submit_vote, vote_typed_data

    with harness(databases, tmp_path, anvil.url, django_db_blocker) as h:
        token = bind(w3, "LifeboatToken", demo.address("token"))
        send(w3, deployer, token.functions.delegate(holder_account(0).address))
        document = frozen_document(anvil, exploited, recovery_executor=demo.address("recovery_executor"))
        make_publishable(document, dev_venue(demo, anvil), anvil.url)
        venue = add_snapshot_venue(
            space=SPACE_ID,
            sequencer_url=snapshot_hub.sequencer_url,
            hub_url=snapshot_hub.graphql_url,
            recovery_executor=demo.address("recovery_executor"),
            approver=committee_account.address,
            rpc_url=anvil.url,
        )
        proposal = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
        mine(w3, 1)
        for index, choice in ((0, FOR), (1, AGAINST)):
            holder = holder_account(index)
            data = vote_typed_data(snapshot_proposal_id=proposal.pk, voter=holder.address, choice=choice)
            submit_vote(snapshot_proposal_id=proposal.pk, envelope=sign(holder, data), rpc_url=anvil.url)
        time.sleep(max(0.0, proposal.end - time.time() + 1))  # the vote closes (the space's period is seconds)
        calls = approval_calls(proposal)
        from_block = w3.eth.block_number + 1
        nonce_before = w3.eth.get_transaction_count(committee_account.address)

        armed = h.worker(failpoints="snapshot_after_broadcast")
        h.follow()
        wait_for(lambda: armed.process.poll() is not None, timeout=KILL_TIMEOUT, what="the kill", logs=h.all_logs)
        assert armed.killed_by_sigkill(), h.all_logs()
        proposal.refresh_from_db()
        assert proposal.outcome == "passed", (proposal.outcome_reason, proposal.error)

        h.worker()
        h.follow()
        wait_for(
            lambda: approval_status(proposal) == SnapshotApprovalStatus.CONFIRMED,
            timeout=RUN_TIMEOUT,
            what="the approval's confirmation",
            logs=h.all_logs,
        )
        executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
        approved = executor.events.PlanApproved().get_logs(from_block=from_block)
        assert sorted(int(log["args"]["planId"]) for log in approved) == sorted(int(c.args[0]) for c in calls)

        h.stop_all()
        h.worker()
        again = h.follow()
        wait_for(lambda: task_done(again), timeout=RUN_TIMEOUT, what="the run after the restart", logs=h.all_logs)
        assert len(executor.events.PlanApproved().get_logs(from_block=from_block)) == len(calls)
        assert w3.eth.get_transaction_count(committee_account.address) == nonce_before + len(calls)
