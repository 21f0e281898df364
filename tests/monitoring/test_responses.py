"""``respond(firing_id, newly_opened=...)``: what each rule response triggers, idempotent per firing,
with the notification carrying the pause results; and, end to end with the engine, the demo
exploit caught by a drain rule whose response is pause leaves the vault paused."""

import json
import time

import pytest
from django.db import connection

from chain import devkeys
from chain.demo import exploit_vault
from chain.guardian import is_paused
from monitoring import engine, responses, webhooks
from monitoring.models import (
    ActionKind,
    ActionStatus,
    Firing,
    ResponseAction,
    ResponseKind,
    Rule,
    RuleKind,
    WatchedDeployment,
)
from tests.monitoring.responders import WEBHOOK_SECRET, configure_webhook, make_firing, receiver_fixture  # noqa: F401

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


@pytest.fixture
def responding(settings, receiver):
    keys = settings.LIFEBOAT_KEYS
    settings.LIFEBOAT_KEYS = {
        **keys,
        "guardian": {**keys["guardian"], "private_key": devkeys.COMMITTEE_KEY, "keystore": ""},
    }
    settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = 10
    settings.MONITOR_EMAIL_TO = ["oncall@example.org", "ciso@example.org"]
    configure_webhook(settings, receiver)
    return settings


def test_a_pause_rule_pauses_first_then_notifies_with_the_pause_results(
    w3,
    anvil,
    demo,
    responding,
    receiver,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault])

    with django_capture_on_commit_callbacks() as queued:
        responses.respond(firing.pk, newly_opened=True)

    assert is_paused(w3, vault)
    actions = {(a.kind, a.target): a for a in ResponseAction.objects.filter(firing=firing)}
    assert set(actions) == {
        (ActionKind.PAUSE, vault),
        (ActionKind.WEBHOOK, "ops"),
        (ActionKind.EMAIL, "oncall@example.org"),
        (ActionKind.EMAIL, "ciso@example.org"),
    }
    assert len(queued) == 3  # the webhook and the two emails, once the engine's transaction commits
    pause = actions[(ActionKind.PAUSE, vault)]
    payload = actions[(ActionKind.WEBHOOK, "ops")].detail["payload"]
    assert payload["pauses"] == [
        {
            "contract": vault,
            "status": "done",
            "attempts": 1,
            "tx_hash": pause.tx_hash,
            "block_number": pause.block_number,
            "error": None,
            "note": None,
        }
    ]
    delivered = webhooks.deliver(action_id=actions[(ActionKind.WEBHOOK, "ops")].pk)
    assert delivered.status == ActionStatus.DONE
    (request,) = receiver.requests
    assert webhooks.verify_signature(
        request.body, request.headers["X-Timestamp"], request.headers["X-Signature"], WEBHOOK_SECRET, 300
    )
    responses.send_email(action_id=actions[(ActionKind.EMAIL, "oncall@example.org")].pk)
    (message,) = mailoutbox
    assert message.to == ["oncall@example.org"] and message.subject.startswith("[Lifeboat CRITICAL] vault drain")
    assert f"{vault}: DONE in block {pause.block_number}" in message.body


def test_responding_twice_to_a_firing_sends_nothing_new(w3, anvil, demo, responding):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault])
    responses.respond(firing.pk, newly_opened=True)
    guardian = w3.eth.account.from_key(devkeys.COMMITTEE_KEY).address
    nonce = w3.eth.get_transaction_count(guardian, "pending")
    before = list(ResponseAction.objects.values_list("pk", "status", "attempts"))

    responses.respond(firing.pk, newly_opened=False)
    responses.respond(firing.pk, newly_opened=True)

    assert list(ResponseAction.objects.values_list("pk", "status", "attempts")) == before
    assert w3.eth.get_transaction_count(guardian, "pending") == nonce


def test_a_failed_pause_is_handed_to_the_retry_task_and_the_notification_says_so(
    w3, anvil, demo, deployer, responding, django_capture_on_commit_callbacks
):
    from chain.artifacts import factory
    from chain.transact import send

    other = send(
        w3,
        deployer,
        factory(w3, "DemoVault").constructor(demo.address("asset"), demo.address("timelock"), deployer.address),
    )["contractAddress"]
    firing = make_firing(rpc_url=anvil.url, targets=[other])

    with django_capture_on_commit_callbacks() as queued:
        responses.respond(firing.pk, newly_opened=True)

    assert len(queued) == 4  # the pause's retry, the webhook, two emails
    payload = ResponseAction.objects.get(firing=firing, kind=ActionKind.WEBHOOK).detail["payload"]
    assert payload["pauses"][0]["status"] == "failed" and "NotGuardian" in payload["pauses"][0]["error"]
    assert "FAILED; it is being retried" in payload["summary"]


@pytest.mark.parametrize("response", [ResponseKind.NOTIFY, ResponseKind.INCIDENT])
def test_notify_and_incident_rules_notify_without_pausing(w3, anvil, demo, responding, response):
    vault = demo.address("vault")
    firing = make_firing(rpc_url=anvil.url, targets=[vault], response=response)
    responses.respond(firing.pk, newly_opened=True)
    kinds = sorted(ResponseAction.objects.filter(firing=firing).values_list("kind", flat=True))
    assert kinds == [ActionKind.EMAIL, ActionKind.EMAIL, ActionKind.WEBHOOK]
    assert not is_paused(w3, vault)


def test_a_record_rule_does_nothing_and_an_unknown_firing_is_ignored(anvil, demo, responding):
    firing = make_firing(rpc_url=anvil.url, targets=[demo.address("vault")], response=ResponseKind.RECORD)
    responses.respond(firing.pk, newly_opened=True)
    responses.respond(10**9, newly_opened=True)
    assert not ResponseAction.objects.exists()


def test_the_demo_exploit_caught_by_a_drain_rule_leaves_the_vault_paused(
    w3, anvil, demo, attacker, responding, settings, django_capture_on_commit_callbacks
):
    """End to end: the engine (``monitoring.engine``) sees the exploit's outflow, fires the drain
    rule, opens the incident, and its ``respond`` lands the guardian's pause."""
    vault, executor = demo.address("vault"), demo.address("recovery_executor")
    watched = WatchedDeployment.objects.create(
        name="demo-e2e",
        chain_id=int(w3.eth.chain_id),
        rpc_url=anvil.url,
        contracts={"vault": vault, "asset": demo.address("asset"), "recovery_executor": executor},
    )
    Rule.objects.create(
        watched=watched,
        name="vault drain",
        kind=RuleKind.DRAIN,
        params={"contract": vault, "asset": demo.address("asset"), "window_blocks": 5, "max_outflow_bps": 2000},
        response=ResponseKind.PAUSE,
        pause_targets=[vault, executor],
        consecutive_needed=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        engine.run_watched(watched.pk)  # healthy: the starting point
    victims = [h for i, h in enumerate(demo.holders) if i % 4 != 3]
    exploit_vault(w3, demo, attacker=attacker, victims=victims)

    with django_capture_on_commit_callbacks(execute=True):
        engine.run_watched(watched.pk)

    (firing,) = Firing.objects.filter(rule__watched=watched)
    assert firing.incident is not None
    assert is_paused(w3, vault) and is_paused(w3, executor)
    pauses = ResponseAction.objects.filter(firing=firing, kind=ActionKind.PAUSE)
    assert {p.status for p in pauses} == {ActionStatus.DONE}
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_refused_pause_escalates_it_and_sends_the_second_notification(
    celery_worker, w3, anvil, demo, deployer, responding, receiver
):
    from chain.artifacts import factory
    from chain.transact import send

    responding.MONITOR_PAUSE_MAX_ATTEMPTS = 3
    responding.MONITOR_RESPONSE_BACKOFF_SECONDS = 0.1
    responding.MONITOR_EMAIL_TO = []
    other = send(
        w3,
        deployer,
        factory(w3, "DemoVault").constructor(demo.address("asset"), demo.address("timelock"), deployer.address),
    )["contractAddress"]
    firing = make_firing(rpc_url=anvil.url, targets=[other])

    responses.respond(firing.pk, newly_opened=True)  # queues the retry and the webhook as it commits

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        ResponseAction.objects.filter(firing=firing, target="ops (escalation)", status=ActionStatus.DONE).exists()
    ):
        time.sleep(0.1)
    pause = ResponseAction.objects.get(firing=firing, kind=ActionKind.PAUSE)
    assert pause.status == ActionStatus.ESCALATED and pause.attempts == 3 and "NotGuardian" in pause.last_error
    events = sorted(json.loads(r.body)["event"] for r in receiver.requests)
    assert events == ["monitor.escalation", "monitor.firing"]
    assert all(
        webhooks.verify_signature(r.body, r.headers["X-Timestamp"], r.headers["X-Signature"], WEBHOOK_SECRET, 300)
        for r in receiver.requests
    )
