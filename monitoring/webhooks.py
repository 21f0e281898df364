"""Signed webhooks: what a monitor's notification looks like on the wire, how a receiver checks
it, and one delivery attempt recorded on its ``ResponseAction``.

The signature is OpenZeppelin Monitor's construction, so a receiver written for it verifies ours
unchanged (``OpenZeppelin/openzeppelin-monitor: src/services/notification/webhook.rs``,
``WebhookNotifier::sign_payload``, read at fb7c00aa, July 2026): HMAC-SHA256 keyed with the
secret's UTF-8 bytes over the body exactly as sent followed by the timestamp in decimal unix
*milliseconds* (``Utc::now().timestamp_millis()``), hex-encoded in lowercase, sent in
``X-Signature``, the timestamp in ``X-Timestamp``. The same values also go in
``X-Lifeboat-Signature`` (as ``sha256=<hex>``, naming the algorithm) and ``X-Lifeboat-Timestamp``.
Unlike OpenZeppelin Monitor, the body is canonical JSON (RFC 8785, ``proposals.document``), so
it hashes the same wherever it is re-serialised.

A receiver refuses a request whose timestamp is further than a tolerance from its own clock
(``verify_signature``): a captured request replayed later fails, and the body cannot be moved
to another timestamp without the secret.

The webhook's URL may carry a token and the secret is a secret: neither is stored on the action,
logged, or put into an error; the action names the webhook by its configured ``name``.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from chain.redaction import redact
from monitoring.models import ActionStatus, ResponseAction
from proposals.document import canonical_json

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
LIFEBOAT_SIGNATURE_HEADER = "X-Lifeboat-Signature"
LIFEBOAT_TIMESTAMP_HEADER = "X-Lifeboat-Timestamp"
# Kept per action: the last attempts' outcomes (status codes, redacted errors), not an unbounded log.
KEEP_ATTEMPTS = 20


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The request body: RFC 8785 canonical JSON of ``payload`` (integers beyond 2**53 as strings)."""
    return canonical_json(jsonable(payload))


def jsonable(value: Any) -> Any:
    """``value`` with what canonical JSON refuses made exact text: floats and integers past 2**53 - 1
    become decimal strings (evidence is meant to hold strings already; this keeps a stray one from
    stopping a notification)."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 - 1 else str(value)
    return str(value)


def sign(body: bytes, timestamp_ms: int | str, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` followed by the decimal timestamp, keyed by ``secret``."""
    if not secret:
        raise ValueError("the webhook secret is empty: set MONITOR_WEBHOOK_SECRET")
    message = body + str(int(timestamp_ms)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str, *, now_ms: int | None = None) -> dict[str, str]:
    """The headers of one signed request at ``now_ms`` (unix milliseconds; the clock by default)."""
    timestamp = str(now_ms if now_ms is not None else time.time_ns() // 1_000_000)
    signature = sign(body, timestamp, secret)
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature,
        TIMESTAMP_HEADER: timestamp,
        LIFEBOAT_SIGNATURE_HEADER: f"sha256={signature}",
        LIFEBOAT_TIMESTAMP_HEADER: timestamp,
    }


def verify_signature(
    body: bytes,
    timestamp: str | int,
    signature: str,
    secret: str,
    tolerance_seconds: int | float,
    now: float | None = None,
) -> bool:
    """Whether a received request is ours and fresh: for receivers (and the tests).

    ``timestamp`` is the ``X-Timestamp`` header (unix milliseconds), ``signature`` the
    ``X-Signature`` header (hex) or ``X-Lifeboat-Signature`` (``sha256=<hex>``), ``now`` the
    receiver's clock in unix seconds. False for a timestamp further than ``tolerance_seconds``
    from ``now`` either way (a replay, or a skewed clock), a malformed header, or a signature of
    another body, timestamp or secret. The comparison takes constant time.
    """
    try:
        sent_ms = int(str(timestamp).strip())
    except ValueError:
        return False
    clock = time.time() if now is None else now
    if abs(clock * 1000 - sent_ms) > tolerance_seconds * 1000:
        return False
    given = signature.strip().removeprefix("sha256=").lower()
    try:
        expected = sign(body, sent_ms, secret)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def configured_webhooks() -> dict[str, dict[str, str]]:
    """The webhooks of ``MONITOR_WEBHOOKS`` by name (each ``{"name", "url", "secret"}``)."""
    return {str(hook["name"]): hook for hook in settings.MONITOR_WEBHOOKS if hook.get("url")}


def claim_attempt(action_id: int) -> ResponseAction | None:
    """The action with its attempt counted, for this process to make; None when it is final or another
    process claimed this attempt first (a message delivered twice, two queued deliveries).

    A compare-and-set on ``attempts``: of two racing processes one matches the row, so one request
    goes out per attempt.
    """
    action = ResponseAction.objects.get(pk=action_id)
    if action.status not in (ActionStatus.PENDING, ActionStatus.FAILED):
        return None
    if not ResponseAction.objects.filter(pk=action.pk, attempts=action.attempts, status=action.status).update(
        attempts=action.attempts + 1, updated_at=timezone.now()
    ):
        return None
    action.attempts += 1
    return action


def deliver(*, action_id: int, now_ms: int | None = None) -> ResponseAction | None:
    """One delivery attempt of a webhook action: DONE on a 2xx answer, else FAILED (the task retries
    with backoff) and, after ``MONITOR_WEBHOOK_MAX_ATTEMPTS``, ESCALATED. Returns None, sending
    nothing, when the action is final or another process is making this attempt.

    The payload is the one frozen on the action when the notification was made; each attempt signs
    it with a fresh timestamp.
    """
    action = claim_attempt(action_id)
    if action is None:
        return None
    name = action.detail.get("webhook", action.target)
    hook = configured_webhooks().get(name)
    secrets = [*settings.LIFEBOAT_SECRETS, *((hook["url"], hook.get("secret", "")) if hook else ())]
    attempt: dict[str, Any] = {"at": timezone.now().isoformat()}
    ok = False
    if hook is None:
        attempt["error"] = f"no webhook named {name!r} is configured (MONITOR_WEBHOOKS)"
    elif not hook.get("secret"):
        attempt["error"] = f"webhook {name!r} has no secret: set MONITOR_WEBHOOK_SECRET"
    else:
        body = body_bytes(action.detail.get("payload", {}))
        headers = signed_headers(body, hook["secret"], now_ms=now_ms)
        attempt["timestamp"] = headers[TIMESTAMP_HEADER]
        attempt["signature"] = headers[SIGNATURE_HEADER]
        try:
            answer = requests.post(
                hook["url"],
                data=body,
                headers=headers,
                timeout=settings.MONITOR_WEBHOOK_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            attempt["status"] = answer.status_code
            ok = 200 <= answer.status_code < 300
            if not ok:
                attempt["error"] = f"answered HTTP {answer.status_code}"
        except requests.RequestException as error:
            # The exception's text quotes the URL (and so its token): only its kind and a redacted line.
            first = str(error).splitlines()[0] if str(error) else ""
            attempt["error"] = f"{type(error).__name__}: {redact(first, secrets=secrets)}"[:300]
    return record_attempt(action, attempt, ok=ok, max_attempts=settings.MONITOR_WEBHOOK_MAX_ATTEMPTS, secrets=secrets)


def record_attempt(
    action: ResponseAction, attempt: dict[str, Any], *, ok: bool, max_attempts: int, secrets: list[str]
) -> ResponseAction:
    """Store the outcome of the attempt ``claim_attempt`` counted (redacted) and move the status."""
    attempts = action.attempts
    error = redact(str(attempt.get("error", "")), secrets=secrets)
    if "error" in attempt:
        attempt["error"] = error
    detail = {**action.detail, "attempts": [*action.detail.get("attempts", []), attempt][-KEEP_ATTEMPTS:]}
    if ok:
        status = ActionStatus.DONE
    elif attempts >= max_attempts:
        status = ActionStatus.ESCALATED
    else:
        status = ActionStatus.FAILED
    ResponseAction.objects.filter(pk=action.pk).update(
        status=status,
        attempts=attempts,
        detail=detail,
        last_error="" if ok else error,
        done_at=timezone.now() if ok else None,
        updated_at=timezone.now(),
    )
    if status == ActionStatus.ESCALATED:
        log.error(
            "%s notification %s to %s failed %s times: %s", action.kind, action.pk, action.target, attempts, error
        )
    elif not ok:
        log.warning(
            "%s notification %s to %s failed (attempt %s): %s", action.kind, action.pk, action.target, attempts, error
        )
    return ResponseAction.objects.get(pk=action.pk)
