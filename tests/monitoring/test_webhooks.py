"""Signed webhooks against a real local receiver: OpenZeppelin Monitor's signature construction,
replays and tampering refused, retries with backoff until the receiver answers 200 (through the
real Celery worker), and no secret (the webhook's secret, the token in its URL) stored or logged."""

import hashlib
import hmac
import json
import time

import pytest

from monitoring import responses, webhooks
from monitoring.models import ActionKind, ActionStatus, ResponseAction, ResponseKind
from proposals.document import canonical_json
from tests.monitoring.responders import (
    URL_TOKEN,
    WEBHOOK_SECRET,
    configure_webhook,
    make_firing,
    receiver_fixture,  # noqa: F401  (the receiver fixture)
)

BODY = b'{"firing":{"id":7},"rule":"vault drain"}'


def test_the_signature_is_openzeppelin_monitors_hmac_over_body_then_millisecond_timestamp():
    timestamp = 1_764_571_200_123  # unix milliseconds, as OpenZeppelin Monitor sends
    expected = hmac.new(WEBHOOK_SECRET.encode(), BODY + b"1764571200123", hashlib.sha256).hexdigest()

    headers = webhooks.signed_headers(BODY, WEBHOOK_SECRET, now_ms=timestamp)

    assert headers["X-Signature"] == expected and headers["X-Timestamp"] == "1764571200123"
    assert (
        headers["X-Lifeboat-Signature"] == f"sha256={expected}" and headers["X-Lifeboat-Timestamp"] == "1764571200123"
    )
    assert webhooks.sign(BODY, timestamp, WEBHOOK_SECRET) == expected
    with pytest.raises(ValueError, match="secret is empty"):
        webhooks.sign(BODY, timestamp, "")


def test_a_receiver_accepts_a_fresh_signed_request_and_refuses_tampering_and_replays():
    now = 1_764_571_200.0
    headers = webhooks.signed_headers(BODY, WEBHOOK_SECRET, now_ms=int(now * 1000))
    stamp, signature = headers["X-Timestamp"], headers["X-Signature"]

    def verify(body=BODY, timestamp=stamp, sig=signature, secret=WEBHOOK_SECRET, at=now + 5) -> bool:
        return webhooks.verify_signature(body, timestamp, sig, secret, tolerance_seconds=300, now=at)

    assert verify()
    assert verify(sig=headers["X-Lifeboat-Signature"])  # the sha256= form too
    assert not verify(body=BODY.replace(b"7", b"8"))  # tampered body
    assert not verify(secret="another-secret-entirely")
    assert not verify(timestamp=str(int(stamp) + 1))  # the body moved to another timestamp
    assert not verify(at=now + 301)  # a replay past the tolerance
    assert not verify(at=now - 301)  # from the future
    assert not verify(timestamp="yesterday")
    assert not verify(sig="sha256=" + "0" * 64)
    assert not verify(secret="")


@pytest.fixture
def notifying(settings, receiver, anvil):
    configure_webhook(settings, receiver)
    settings.MONITOR_EMAIL_TO = []
    settings.MONITOR_WEBHOOK_MAX_ATTEMPTS = 4
    settings.MONITOR_RESPONSE_BACKOFF_SECONDS = 0.2
    return make_firing(rpc_url=anvil.url, targets=[], response=ResponseKind.NOTIFY)


@pytest.mark.django_db
def test_a_delivered_webhook_verifies_and_carries_the_firing(notifying, receiver):
    (action,) = responses.notify(firing_id=notifying.pk, escalation=False)

    delivered = webhooks.deliver(action_id=action.pk)

    assert delivered.status == ActionStatus.DONE and delivered.attempts == 1
    (request,) = receiver.requests
    assert request.path == f"/hooks/{URL_TOKEN}?key={URL_TOKEN}"
    assert webhooks.verify_signature(
        request.body, request.headers["X-Timestamp"], request.headers["X-Signature"], WEBHOOK_SECRET, 300
    )
    payload = json.loads(request.body)
    assert request.body == canonical_json(payload)
    assert payload["firing"]["id"] == notifying.pk and payload["rule"]["name"] == "vault drain"
    assert payload["rule"]["severity"] == "critical" and payload["firing"]["cause"] == "drain:vault"
    assert payload["firing"]["evidence"][0]["values"]["outflow"] == str(10**24)
    assert delivered.target == "ops" and delivered.detail["attempts"][0]["status"] == 200
    # Delivered again: a final action sends nothing more.
    assert webhooks.deliver(action_id=action.pk) is None and len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_until_the_limit_then_escalated(notifying, receiver):
    receiver.fail_first = 10
    (action,) = responses.notify(firing_id=notifying.pk, escalation=False)

    states = [webhooks.deliver(action_id=action.pk).status for _ in range(4)]

    assert states == [ActionStatus.FAILED] * 3 + [ActionStatus.ESCALATED]
    stored = ResponseAction.objects.get(pk=action.pk)
    assert [a["status"] for a in stored.detail["attempts"]] == [500] * 4
    assert stored.last_error == "answered HTTP 500"
    assert len({a["timestamp"] for a in stored.detail["attempts"]}) >= 1
    assert webhooks.deliver(action_id=action.pk) is None and len(receiver.requests) == 4


@pytest.mark.django_db
def test_no_secret_is_stored_or_logged_when_the_receiver_is_down(settings, receiver, anvil, caplog):
    from chain.anvil import free_port

    dead = f"http://127.0.0.1:{free_port()}/hooks/{URL_TOKEN}?key={URL_TOKEN}"
    settings.MONITOR_WEBHOOKS = [{"name": "ops", "url": dead, "secret": WEBHOOK_SECRET}]
    settings.LIFEBOAT_SECRETS = [*settings.LIFEBOAT_SECRETS, dead, WEBHOOK_SECRET]
    settings.MONITOR_EMAIL_TO = []
    firing = make_firing(rpc_url=anvil.url, targets=[], response=ResponseKind.NOTIFY)
    caplog.set_level("DEBUG")

    (action,) = responses.notify(firing_id=firing.pk, escalation=False)
    failed = webhooks.deliver(action_id=action.pk)

    assert failed.status == ActionStatus.FAILED and "ConnectionError" in failed.last_error
    stored = json.dumps(list(ResponseAction.objects.values()), default=str)
    for secret in (URL_TOKEN, WEBHOOK_SECRET, dead):
        assert secret not in stored
        assert secret not in caplog.text


@pytest.mark.django_db
def test_a_webhook_no_longer_configured_fails_with_its_name(notifying, settings):
    (action,) = responses.notify(firing_id=notifying.pk, escalation=False)
    settings.MONITOR_WEBHOOKS = []
    failed = webhooks.deliver(action_id=action.pk)
    assert failed.status == ActionStatus.FAILED and "no webhook named 'ops'" in failed.last_error


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_backoff_until_the_receiver_answers_200(celery_worker, notifying, receiver):
    receiver.fail_first = 2
    # notify() queues the delivery once its transaction commits (at once here: no test transaction).
    (action,) = responses.notify(firing_id=notifying.pk, escalation=False)
    deadline = time.monotonic() + 60
    while ResponseAction.objects.get(pk=action.pk).status != ActionStatus.DONE and time.monotonic() < deadline:
        time.sleep(0.1)

    done = ResponseAction.objects.get(pk=action.pk)
    assert done.status == ActionStatus.DONE and done.kind == ActionKind.WEBHOOK
    assert [a["status"] for a in done.detail["attempts"]][-3:] == [500, 500, 200]
    assert all(
        webhooks.verify_signature(r.body, r.headers["X-Timestamp"], r.headers["X-Signature"], WEBHOOK_SECRET, 300)
        for r in receiver.requests
    )
