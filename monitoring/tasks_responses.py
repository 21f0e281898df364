"""Celery entry points of the monitors' responses: take an action id, call the service, retry with
backoff while the action says so (``monitoring/pausing.py``, ``webhooks.py``, ``responses.py``).

Registered through ``monitoring/tasks.py``, which imports this module (autodiscovery imports
only ``tasks``). The attempts are counted on the action in the database, not by Celery, so a
redelivered message (``acks_late``) neither loses nor doubles a count, and every service is
idempotent: a final action (done, skipped, escalated) is left alone.
"""

from celery import shared_task
from django.db import OperationalError

from monitoring import pausing, responses, webhooks
from monitoring.models import ActionStatus

# Celery's own retry count is only a backstop against a loop; the services stop at their limits.
BACKSTOP_RETRIES = 200


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), max_retries=BACKSTOP_RETRIES)
def retry_pause(self, action_id: int) -> dict[str, object]:
    """Try a failed pause again (or follow a sent one); escalate after ``MONITOR_PAUSE_MAX_ATTEMPTS``."""
    action = pausing.pause_target(action_id=action_id)
    if action.status == ActionStatus.FAILED:
        action = pausing.escalate_if_exhausted(action_id=action_id)
    if action.status in (ActionStatus.FAILED, ActionStatus.SENT):
        countdown = pausing.backoff_seconds(action.attempts) if action.status == ActionStatus.FAILED else 2.0
        raise self.retry(countdown=countdown)
    return {"action": action.pk, "status": action.status, "attempts": action.attempts}


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), max_retries=BACKSTOP_RETRIES)
def deliver_webhook(self, action_id: int) -> dict[str, object]:
    """One signed delivery; FAILED is retried with exponential backoff until the action's limit."""
    action = webhooks.deliver(action_id=action_id)
    if action is None:  # final, or another worker is making this attempt (and owns the retries)
        return {"action": action_id, "status": "not_ours"}
    if action.status == ActionStatus.FAILED:
        raise self.retry(countdown=pausing.backoff_seconds(action.attempts))
    return {"action": action.pk, "status": action.status, "attempts": action.attempts}


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), max_retries=BACKSTOP_RETRIES)
def send_email(self, action_id: int) -> dict[str, object]:
    """One email through Django's backend; FAILED is retried like a webhook."""
    action = responses.send_email(action_id=action_id)
    if action is None:  # final, or another worker is making this attempt (and owns the retries)
        return {"action": action_id, "status": "not_ours"}
    if action.status == ActionStatus.FAILED:
        raise self.retry(countdown=pausing.backoff_seconds(action.attempts))
    return {"action": action.pk, "status": action.status, "attempts": action.attempts}
