"""What the monitors watch, what they saw, when a rule fired, and how Lifeboat answered.

- ``WatchedDeployment``: one chain and its contracts, with the monitor's progress (the last block
  it processed, so a monitor that was down catches up instead of skipping blocks).
- ``Rule``: one check on it (a feed's staleness, a stalled head, solvency, ...), with its
  thresholds, severity, debounce and response.
- ``Observation``: one evaluation of a rule at a block, with its evidence.
- ``Firing``: a rule failing for one cause past its debounce; one open firing per cause, and
  one incident per cause however often it fires.
- ``ResponseAction``: what was done about a firing (a pause sent, a webhook, an email),
  idempotent per (firing, kind, target).
- ``PauseRecord``: every pause and unpause of a watched contract, with who did it.

Integers read from the chain (prices, balances, supplies) are kept as decimal strings in the
JSON evidence and in ``Observation.value``, never as floats.
"""

from django.conf import settings
from django.db import models

from recovery.models import Incident, IncidentKind


class WatchedDeployment(models.Model):
    """A chain and the contracts a monitor watches there; ``contracts`` maps a role to an address."""

    name = models.SlugField(max_length=64, unique=True)
    deployment = models.ForeignKey(
        "recovery.Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="watchers"
    )
    chain_id = models.PositiveBigIntegerField()
    # Never shown: pages and API answers show ``rpc_label`` (the host, without credentials or path).
    rpc_url = models.CharField(max_length=500)
    contracts = models.JSONField(default=dict, help_text="role -> checksummed address (vault, price_feed, ...)")
    interval_seconds = models.PositiveIntegerField(default=5, help_text="How often Celery beat runs this monitor")
    max_catch_up_blocks = models.PositiveIntegerField(
        default=500, help_text="At most this many missed blocks are checked in one run (the rest in the next)"
    )
    enabled = models.BooleanField(default=True)
    # Progress, written by the monitor run.
    last_block = models.PositiveBigIntegerField(null=True, blank=True, help_text="Last block fully processed")
    last_block_hash = models.CharField(max_length=66, blank=True)
    watching_since = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The first block this monitor checked: no rule's window reaches before it"
    )
    head_block = models.PositiveBigIntegerField(null=True, blank=True, help_text="The head at the last run")
    head_changed_at = models.DateTimeField(null=True, blank=True, help_text="When the head last advanced")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Redacted: never holds the RPC URL")
    # The run lease (``monitoring.engine``): one process at a time runs a deployment's monitor.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} on chain {self.chain_id}"


class RuleKind(models.TextChoices):
    ORACLE_STALE = "oracle_stale", "Oracle staleness (updatedAt older than heartbeat + grace)"
    ORACLE_ANSWER = "oracle_answer", "Oracle sanity (non-positive answer, incomplete round)"
    ORACLE_JUMP = "oracle_jump", "Oracle jump between rounds"
    ORACLE_DEVIATION = "oracle_deviation", "Oracle deviation from a second source"
    BLOCK_STALL = "block_stall", "Block stall (the head does not advance)"
    RPC_UNREACHABLE = "rpc_unreachable", "RPC node unreachable"
    SOLVENCY = "solvency", "Solvency (assets cover liabilities)"
    SUPPLY = "supply", "Total supply equals the sum of balances"
    DRAIN = "drain", "Drain (outflow above a share of holdings within a block window)"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class ResponseKind(models.TextChoices):
    RECORD = "record", "Record only"
    NOTIFY = "notify", "Notify"
    INCIDENT = "incident", "Open an incident and notify"
    PAUSE = "pause", "Pause, open an incident and notify"


class RuleState(models.TextChoices):
    UNKNOWN = "unknown", "Not observed yet"
    OK = "ok", "Healthy"
    FAILING = "failing", "Failing (below the debounce)"
    FIRING = "firing", "Firing"


class Rule(models.Model):
    """One check on a watched deployment.

    ``params`` holds the kind's thresholds, e.g. ``{"feed": "0x..", "heartbeat_seconds": 3600,
    "grace_seconds": 60}`` for staleness or ``{"contract": "0x..", "asset": "0x..",
    "max_outflow_bps": 2000, "window_blocks": 5}`` for drain; ``monitoring.rules`` validates them per kind.
    """

    watched = models.ForeignKey(WatchedDeployment, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    params = models.JSONField(default=dict)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    response = models.CharField(max_length=16, choices=ResponseKind.choices, default=ResponseKind.NOTIFY)
    pause_targets = models.JSONField(default=list, help_text="Addresses paused when the response is pause")
    incident_kind = models.CharField(max_length=32, choices=IncidentKind.choices, default=IncidentKind.OTHER)
    consecutive_needed = models.PositiveSmallIntegerField(
        default=2, help_text="Failing observations in a row before the rule fires (debounce)"
    )
    enabled = models.BooleanField(default=True)
    # State, written by the monitor run.
    state = models.CharField(max_length=16, choices=RuleState.choices, default=RuleState.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_cause = models.CharField(
        max_length=200, blank=True, help_text="Cause of the latest failing observation of the current streak"
    )
    last_observed_at = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    metric = models.CharField(max_length=64, blank=True, help_text="What Observation.value measures, with its unit")

    class Meta:
        ordering = ["watched", "pk"]
        constraints = [models.UniqueConstraint(fields=["watched", "name"], name="one_rule_name_per_watched")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Observation(models.Model):
    """One evaluation of a rule, with its evidence: the block, the values read, the node asked."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="observations")
    chain_id = models.PositiveBigIntegerField()
    block_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty when the node did not answer")
    block_hash = models.CharField(max_length=66, blank=True)
    ok = models.BooleanField()
    cause = models.CharField(max_length=200, blank=True, help_text="Stable key of what failed (empty when ok)")
    message = models.TextField(blank=True)
    value = models.CharField(max_length=80, blank=True, help_text="The watched value as a decimal integer string")
    values = models.JSONField(default=dict, help_text="Everything read, integers as decimal strings")
    source = models.CharField(max_length=200, blank=True, help_text="The node asked: host only, no credentials")
    observed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-observed_at", "-pk"]
        indexes = [models.Index(fields=["rule", "-observed_at"], name="observation_rule_recent")]

    def __str__(self) -> str:
        return f"{self.rule} at block {self.block_number}: {'ok' if self.ok else self.cause}"


class FiringStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Firing(models.Model):
    """A rule failing for one cause past its debounce. At most one open firing per (rule, cause);
    the incident it opened is reused by later firings of the same cause while it is still open."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    cause = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=FiringStatus.choices, default=FiringStatus.OPEN)
    message = models.TextField(blank=True)
    first_block = models.PositiveBigIntegerField(null=True, blank=True)
    last_block = models.PositiveBigIntegerField(null=True, blank=True)
    times_fired = models.PositiveIntegerField(default=1)
    evidence = models.JSONField(default=list, help_text="The observations that tripped it")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="firings")
    opened_at = models.DateTimeField(auto_now_add=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True, help_text="Why it was resolved: healthy again, or a person's note")

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "cause"],
                condition=models.Q(status="open"),
                name="one_open_firing_per_cause",
            )
        ]

    def __str__(self) -> str:
        return f"firing {self.pk}: {self.rule} / {self.cause}"


class ActionKind(models.TextChoices):
    PAUSE = "pause", "Pause a contract"
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent, waiting for its receipt"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Nothing to do (already paused)"
    FAILED = "failed", "Failed, will retry"
    ESCALATED = "escalated", "Failed after every retry: escalated"


class ResponseAction(models.Model):
    """One thing done about a firing; unique per (firing, kind, target), so a retry never doubles it."""

    firing = models.ForeignKey(Firing, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    target = models.CharField(max_length=200, help_text="Contract address, webhook name, or email address")
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    tx_hash = models.CharField(max_length=66, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="Block holding the pause")
    detail = models.JSONField(default=dict, help_text="Status codes, timestamps, signatures sent; no secrets")
    last_error = models.TextField(blank=True, help_text="Redacted")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["firing", "kind", "target"], name="one_action_per_firing_target")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}: {self.status}"


class PauseAction(models.TextChoices):
    PAUSE = "pause", "Paused"
    UNPAUSE = "unpause", "Unpaused"


class PauseStatus(models.TextChoices):
    PENDING = "pending", "Sent, not mined yet"
    DONE = "done", "Mined"
    FAILED = "failed", "Failed"


class PauseRecord(models.Model):
    """A pause or unpause of a watched contract, and who did it (a Lifeboat user, a firing, or an
    address seen on chain)."""

    chain_id = models.PositiveBigIntegerField()
    contract = models.CharField(max_length=42)
    action = models.CharField(max_length=16, choices=PauseAction.choices)
    tx_hash = models.CharField(max_length=66, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_address = models.CharField(max_length=42, blank=True, help_text="The account that sent it on chain")
    firing = models.ForeignKey(Firing, null=True, blank=True, on_delete=models.SET_NULL, related_name="pauses")
    note = models.TextField(blank=True)
    status = models.CharField(
        max_length=16,
        choices=PauseStatus.choices,
        default=PauseStatus.DONE,
        help_text="Pending: recorded before its broadcast (who asked), until its receipt or the monitor sees it",
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.contract} in {self.tx_hash or 'a transaction not seen yet'}"
