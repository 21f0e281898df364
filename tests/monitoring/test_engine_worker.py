"""The beat task on a real Celery worker: it runs every due watched deployment."""

from collections.abc import Iterator

import pytest
from web3 import Web3

from chain.demo import DemoDeployment
from monitoring import rules
from monitoring.models import Observation, RuleState, WatchedDeployment
from monitoring.setup import watch_demo
from monitoring.tasks import run_monitors
from tests.monitoring.engine_helpers import mine

pytestmark = pytest.mark.chain


@pytest.fixture
def watched_on_worker(
    demo: DemoDeployment, chain_settings: object, celery_worker: object
) -> Iterator[WatchedDeployment]:
    rules._SUPPLY_STATE.clear()
    yield watch_demo(rpc_url=demo.rpc_url)
    rules._SUPPLY_STATE.clear()


def test_the_beat_task_runs_the_due_monitors_on_a_worker(w3: Web3, watched_on_worker: WatchedDeployment) -> None:
    first = run_monitors.delay().get(timeout=120)
    head = mine(w3, 2)
    # Due again only after its interval: a run right away does nothing for it.
    assert run_monitors.delay().get(timeout=120) == []
    WatchedDeployment.objects.filter(pk=watched_on_worker.pk).update(last_run_at=None)
    second = run_monitors.delay().get(timeout=120)

    assert [r["watched"] for r in first] == ["dev"] and first[0]["error"] == ""
    assert second[0]["to_block"] == head and second[0]["from_block"] == first[0]["to_block"] + 1
    watched_on_worker.refresh_from_db()
    assert watched_on_worker.last_block == head and watched_on_worker.lease_owner == ""
    assert Observation.objects.filter(rule__watched=watched_on_worker, block_number=head).exists()
    assert set(watched_on_worker.rules.filter(enabled=True).values_list("state", flat=True)) == {RuleState.OK}


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_deployment_get_one_lease() -> None:
    import threading

    from django.db import connection, connections

    from monitoring import engine

    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL (DATABASE_URL); SQLite runs one writer")
    watched = WatchedDeployment.objects.create(name="race", chain_id=31337, rpc_url="http://127.0.0.1:9")
    barrier, won = threading.Barrier(8), []

    def take(owner: str) -> None:
        try:
            barrier.wait()
            if engine.acquire_lease(watched.pk, owner=owner):
                won.append(owner)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=(f"worker-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    watched.refresh_from_db()
    assert watched.lease_owner == won[0]
