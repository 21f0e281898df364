"""A node that does not answer while execution is started, resumed or looked for: 503 in words, nothing written.

``CHAIN_RPC_URL`` points at a closed port (nothing listens on 9: every request is refused), with a
path standing for an API key; the answer names no URL at all. The worker's own sends raise
``RpcUnavailable`` instead, which its task retries.
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from chain.errors import RpcUnavailable
from chain.rpc import connect
from recovery import execution
from recovery.exceptions import ChainUnavailable
from recovery.models import (
    BatchSend,
    BatchSendState,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    SenderKey,
    SentTransaction,
)
from tests.factories import UserFactory
from tests.recovery.test_execution_helpers import make_approved_plan, make_plan

pytestmark = pytest.mark.django_db

DEAD_NODE = "http://127.0.0.1:9/v3/node-key-5531"
REFUSED = "the chain node did not answer (connection refused) while"


@pytest.fixture
def depth(settings):
    settings.CONFIRMATION_DEPTH = 0
    return settings


def _executor_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(executor=True))
    return client


def _unavailable(reply, doing: str) -> str:
    assert reply.status_code == 503, reply.content
    error = reply.json()["error"]
    assert error["code"] == "chain_unavailable"
    assert error["message"] == f"{REFUSED} {doing}: try again once it answers (retrying is safe)"
    for part in ("127.0.0.1", ":9", "node-key-5531", "/v3/", "http"):
        assert part not in reply.content.decode(), part
    return error["message"]


def test_starting_a_plan_while_the_node_is_down_is_a_503_in_words_and_writes_nothing(
    w3, anvil, demo, deployer, timelock, chain_settings, depth, settings
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    client = _executor_client()
    settings.CHAIN_RPC_URL = DEAD_NODE

    # No run yet: the start looks for the approval on chain first.
    reply = client.post(reverse("plan-execution", args=[approved.plan.pk]), {}, format="json")
    _unavailable(reply, f"starting the execution of plan {approved.plan.pk}")
    assert not ExecutionRun.objects.exists()

    settings.CHAIN_RPC_URL = anvil.url
    (run,) = execution.discover_approvals(w3=w3)
    settings.CHAIN_RPC_URL = DEAD_NODE

    # The run found: the chain's checks fail before anything is written.
    reply = client.post(reverse("plan-execution", args=[approved.plan.pk]), {}, format="json")
    _unavailable(reply, f"starting execution run {run.pk}")
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.READY
    assert not BatchSend.objects.exists() and list(run.events.values_list("kind", flat=True)) == ["approved"]


def test_resuming_while_the_node_is_down_is_a_503_and_the_run_stays_paused_pause_and_cancel_need_no_node(
    w3, demo, deployer, timelock, chain_settings, depth, settings
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    make_plan(w3, demo, version=2, incident=approved.plan.incident)  # resuming then asks the chain
    client = _executor_client()
    settings.CHAIN_RPC_URL = DEAD_NODE

    assert client.post(reverse("execution-pause", args=[run.pk])).status_code == 200
    _unavailable(client.post(reverse("execution-resume", args=[run.pk])), f"resuming execution run {run.pk}")
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.PAUSED
    assert not ExecutionEvent.objects.filter(run=run, kind="resumed").exists()
    assert client.post(reverse("execution-cancel", args=[run.pk])).status_code == 200
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.CANCELLED


def test_discovery_with_the_node_down_raises_chain_unavailable_and_creates_no_run(w3, demo, chain_settings, depth):
    make_plan(w3, demo)
    with pytest.raises(ChainUnavailable) as raised:
        execution.discover_approvals(w3=connect(DEAD_NODE))
    assert raised.value.message.startswith(f"{REFUSED} looking for approved plans")
    assert "127.0.0.1" not in raised.value.message
    assert not ExecutionRun.objects.exists()


def test_a_batch_send_with_the_node_down_is_rpc_unavailable_for_the_task_to_retry_and_nothing_is_signed(
    w3, demo, deployer, timelock, chain_settings, depth
):
    approved = make_approved_plan(w3, demo, deployer, timelock)
    run = execution.start_plan_execution(plan_id=approved.plan.pk, actor=None, via="cli", w3=w3)
    first = BatchSend.objects.get(run=run, index=0)

    with pytest.raises(RpcUnavailable) as raised:  # the task's autoretry_for; a raw requests error is not retried
        execution.send_batch(batch_send_id=first.pk, w3=connect(DEAD_NODE))
    assert "node-key-5531" not in str(raised.value)
    first.refresh_from_db()
    assert first.state == BatchSendState.PENDING and not first.tx_hash
    assert not SentTransaction.objects.exists()
    assert not SenderKey.objects.exclude(lease_owner="").exists()  # the lease was given back
