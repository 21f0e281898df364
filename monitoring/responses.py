"""What a firing triggers: the circuit breaker's pause, then the notifications (webhooks, email).

``respond(firing_id, newly_opened=...)`` is the engine's one call, made after the transaction
that created or re-fired the firing commits. By the rule's response:

- ``pause``: the targets are paused *here, synchronously* (a monitor at a 1-second block time
  has one or two blocks to land the pause; a queue hop would spend them), then the notification
  goes out carrying the pause results; a failed pause is handed to the retry task;
- ``incident`` and ``notify``: the notification only (the engine opens the incident itself);
- ``record``: nothing.

Idempotent per firing: each pause, webhook and email is one ``ResponseAction`` (unique per
firing, kind and target), so a second call, or a re-fire of the same open firing, sends nothing
new; a pause already made is read on chain (``paused()``) before anything is signed.

A notification's payload is built once, when its action is made, and frozen on the action, so
every retry delivers the same body. An escalation (a pause that failed every retry) is a second
notification, to the same webhooks and addresses, saying so.
"""

import json
import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from chain.redaction import redact
from monitoring import pausing, webhooks
from monitoring.models import ActionKind, ActionStatus, Firing, ResponseAction, ResponseKind

log = logging.getLogger(__name__)

ESCALATION_SUFFIX = " (escalation)"


def respond(firing_id: int, *, newly_opened: bool) -> None:
    """Answer a firing as its rule says (see the module). Never raises for a failed action: each
    failure is on its action, and retries are queued.

    ``newly_opened`` (a new firing, or one fired again) changes nothing here: a firing fired again
    finds its actions made and sends nothing new, while a pause target unpaused meanwhile by
    hand stays unpaused (only a new firing pauses again).
    """
    firing = Firing.objects.select_related("rule__watched", "incident").filter(pk=firing_id).first()
    if firing is None:
        log.warning("respond: there is no firing %s (deleted?); nothing done", firing_id)
        return
    response = firing.rule.response
    if response == ResponseKind.RECORD:
        return
    if response == ResponseKind.PAUSE:
        for action in pausing.pause_targets(firing):
            if action.status in (ActionStatus.FAILED, ActionStatus.SENT):
                _enqueue_pause_retry(action)
    notify(firing_id=firing.pk, escalation=False)


def _enqueue_pause_retry(action: ResponseAction) -> None:
    from monitoring.tasks_responses import retry_pause

    countdown = pausing.backoff_seconds(action.attempts) if action.status == ActionStatus.FAILED else 1.0
    _enqueue(retry_pause, action.pk, countdown=countdown)


def _enqueue(task: Any, action_id: int, *, countdown: float = 0) -> None:
    """Queue ``task(action_id)`` once the current transaction commits; a broker that refuses is
    logged, not raised (the action stays PENDING or FAILED, visible on the firing's page)."""

    def send() -> None:
        try:
            task.apply_async((action_id,), countdown=countdown)
        except Exception as error:  # kombu raises transport-specific errors: any of them means no broker
            log.error(
                "could not queue %s for response action %s: %s",
                task.name,
                action_id,
                redact(str(error), secrets=settings.LIFEBOAT_SECRETS),
            )

    transaction.on_commit(send)


# --- Notifications -------------------------------------------------------------------------------


def notify(*, firing_id: int, escalation: bool) -> list[ResponseAction]:
    """Make (once) and queue the firing's notification to every configured webhook and address.

    ``escalation`` makes the second notification, of pauses that failed every retry. Returns the
    actions made now (none when they exist already).
    """
    firing = Firing.objects.select_related("rule__watched", "incident").get(pk=firing_id)
    payload = build_payload(firing, escalation=escalation)
    suffix = ESCALATION_SUFFIX if escalation else ""
    made = []
    for name in webhooks.configured_webhooks():
        action = _make(firing, ActionKind.WEBHOOK, f"{name}{suffix}", {"webhook": name, "payload": payload})
        if action is not None:
            made.append(action)
    for address in settings.MONITOR_EMAIL_TO:
        action = _make(firing, ActionKind.EMAIL, f"{address}{suffix}", {"to": address, "payload": payload})
        if action is not None:
            made.append(action)
    from monitoring.tasks_responses import deliver_webhook, send_email

    for action in made:
        _enqueue(deliver_webhook if action.kind == ActionKind.WEBHOOK else send_email, action.pk)
    return made


def _make(firing: Firing, kind: str, target: str, detail: dict[str, Any]) -> ResponseAction | None:
    """The new action, or None when the firing has it already (nothing is sent twice)."""
    try:
        with transaction.atomic():
            if ResponseAction.objects.filter(firing=firing, kind=kind, target=target).exists():
                return None
            return ResponseAction.objects.create(firing=firing, kind=kind, target=target[:200], detail=detail)
    except IntegrityError:  # a concurrent respond() made it first
        return None


def build_payload(firing: Firing, *, escalation: bool) -> dict[str, Any]:
    """The notification's content: the rule, the cause and its evidence, the incident, the pauses."""
    rule, watched = firing.rule, firing.rule.watched
    pauses = [
        {
            "contract": action.target,
            "status": action.status,
            "attempts": action.attempts,
            "tx_hash": action.tx_hash or None,
            "block_number": action.block_number,
            "error": action.last_error or None,
            "note": (action.detail or {}).get("note"),
        }
        for action in firing.actions.filter(kind=ActionKind.PAUSE).order_by("pk")
    ]
    escalated = [p for p in pauses if p["status"] == ActionStatus.ESCALATED]
    failed = [p for p in pauses if p["status"] in (ActionStatus.FAILED, ActionStatus.ESCALATED)]
    if escalation:
        summary = (
            f"ESCALATION: the guardian could not pause {', '.join(p['contract'] for p in escalated)} after every "
            f"retry; pause it by hand. Rule {rule.name} on {watched.name}: {firing.message}"
        )
    else:
        summary = f"[{rule.severity}] rule {rule.name} on {watched.name} fired: {firing.message}"
        if failed:
            summary += f" The pause of {', '.join(p['contract'] for p in failed)} FAILED; it is being retried."
    return webhooks.jsonable(
        {
            "id": f"lifeboat-firing-{firing.pk}-{'escalation' if escalation else 'fired'}",
            "event": "monitor.escalation" if escalation else "monitor.firing",
            "summary": summary,
            "watched": {"name": watched.name, "chain_id": watched.chain_id},
            "rule": {
                "id": rule.pk,
                "name": rule.name,
                "kind": rule.kind,
                "severity": rule.severity,
                "response": rule.response,
            },
            "firing": {
                "id": firing.pk,
                "cause": firing.cause,
                "message": firing.message,
                "first_block": firing.first_block,
                "last_block": firing.last_block,
                "times_fired": firing.times_fired,
                "opened_at": firing.opened_at.isoformat() if firing.opened_at else None,
                "evidence": firing.evidence,
            },
            "incident": _incident(firing),
            "pauses": pauses,
            "escalated": bool(escalated),
            "created_at": timezone.now().isoformat(),
        }
    )


def _incident(firing: Firing) -> dict[str, Any] | None:
    if firing.incident_id is None:
        return None
    try:
        path = reverse("committee-incident", args=[firing.incident_id])
    except NoReverseMatch:
        path = f"/incidents/{firing.incident_id}/"
    return {"id": firing.incident_id, "title": firing.incident.title, "url_path": path}


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notification's email."""
    rule, firing = payload["rule"], payload["firing"]
    prefix = "ESCALATION" if payload["event"] == "monitor.escalation" else rule["severity"].upper()
    subject = f"[Lifeboat {prefix}] {rule['name']} on {payload['watched']['name']}: {firing['cause']}"[:200]
    lines = [
        payload["summary"],
        "",
        f"Cause: {firing['cause']}",
        f"Blocks: {firing['first_block']} to {firing['last_block']}",
    ]
    if payload.get("incident"):
        lines.append(f"Incident {payload['incident']['id']}: {payload['incident']['url_path']}")
    if payload["pauses"]:
        lines += ["", "Circuit breaker:"]
        for pause in payload["pauses"]:
            where = f" in block {pause['block_number']} ({pause['tx_hash']})" if pause["block_number"] else ""
            why = f": {pause['error'] or pause['note']}" if (pause["error"] or pause["note"]) else ""
            lines.append(f"- {pause['contract']}: {pause['status'].upper()}{where}{why}")
    lines += ["", "Evidence:"]
    for item in firing["evidence"] or []:
        lines.append(f"- {json.dumps(item, sort_keys=True)}")
    return subject, "\n".join(lines) + "\n"


def send_email(*, action_id: int) -> ResponseAction | None:
    """One attempt to send an email action through Django's email backend; like a webhook's attempt
    (None when the action is final or another process is making this attempt)."""
    action = webhooks.claim_attempt(action_id)
    if action is None:
        return None
    subject, body = email_text(action.detail["payload"])
    attempt: dict[str, Any] = {"at": timezone.now().isoformat()}
    ok = False
    try:
        send_mail(subject, body, settings.MONITOR_EMAIL_FROM, [action.detail.get("to", action.target)])
        ok = True
    except (smtplib.SMTPException, OSError) as error:
        attempt["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
    return webhooks.record_attempt(
        action, attempt, ok=ok, max_attempts=settings.MONITOR_WEBHOOK_MAX_ATTEMPTS, secrets=settings.LIFEBOAT_SECRETS
    )
