"""Execution of approved plans: runs, batch sends, every transaction hash, sender nonces, the audit log.

The chain is the ledger of what ran (``RecoveryExecutor``'s bitmap and its ``BatchExecuted``
logs); these rows mirror it and are reconciled from it (``recovery/execution_reconcile.py``).
"""

from django.conf import settings
from django.db import models

from recovery.fields import Uint256Field
from recovery.models.core import MigrationBatch, PlanAsset

__all__ = [
    "BatchSend",
    "BatchSendState",
    "ExecutionEvent",
    "ExecutionRun",
    "ExecutionRunStatus",
    "SenderKey",
    "SentTransaction",
]


class ExecutionRunStatus(models.TextChoices):
    READY = "ready", "Ready (approved on chain, not started)"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ExecutionRun(models.Model):
    """The execution of one approved plan asset (one ``RecoveryExecutor`` plan id) on one chain."""

    plan_asset = models.OneToOneField(PlanAsset, on_delete=models.PROTECT, related_name="execution")
    chain_id = models.PositiveBigIntegerField()
    recovery_executor = models.CharField(max_length=42, help_text="EIP-55 address of the RecoveryExecutor")
    onchain_plan_id = Uint256Field()
    status = models.CharField(max_length=16, choices=ExecutionRunStatus.choices, default=ExecutionRunStatus.READY)
    # The PlanApproved that made the run possible, as the chain gave it (checked again on start).
    approval_block = models.PositiveBigIntegerField()
    approval_block_hash = models.CharField(max_length=66)
    approval_tx = models.CharField(max_length=66)
    incident_key = models.CharField(max_length=66, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    delivery = models.PositiveSmallIntegerField(default=0, help_text="0 push, 1 push with fallback, 2 pull")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_via = models.CharField(max_length=16, blank=True, help_text="api, cli or auto")
    auto_started = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True)
    paused_by_system = models.BooleanField(
        default=False, help_text="Paused by the system (low gas funds): resumed by itself once the cause is gone"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"execution run {self.pk} of {self.plan_asset}"


class BatchSendState(models.TextChoices):
    PENDING = "pending", "Pending"
    SIGNED = "signed", "Signed (stored, maybe not broadcast)"
    SENT = "sent", "Sent"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"


class BatchSend(models.Model):
    """One batch of a run: pending -> signed -> sent -> confirmed | failed.

    ``raw_tx`` and ``tx_hash`` are the current transaction (the latest replacement); every hash
    the batch ever had is a ``SentTransaction``. A confirmed batch names the block (number and
    hash) it was mined in, so a reorg that removes it is noticed.
    """

    run = models.ForeignKey(ExecutionRun, on_delete=models.CASCADE, related_name="batches")
    batch = models.ForeignKey(MigrationBatch, on_delete=models.PROTECT, related_name="sends")
    index = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=BatchSendState.choices, default=BatchSendState.PENDING)
    sender = models.CharField(max_length=42, help_text="EIP-55 address of the executor key that sends it")
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    raw_tx = models.TextField(blank=True, help_text="0x-hex signed bytes of the current transaction")
    tx_hash = models.CharField(max_length=66, blank=True)
    max_fee_per_gas = Uint256Field(null=True, blank=True)
    max_priority_fee_per_gas = Uint256Field(null=True, blank=True)
    gas_limit = models.PositiveBigIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the current transaction was broadcast")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    effective_gas_price = Uint256Field(null=True, blank=True)
    confirmed_by = models.CharField(
        max_length=16, blank=True, help_text="receipt (ours) or bitmap (the chain says it ran, found by its log)"
    )
    failure_reason = models.TextField(blank=True)
    replacements = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="one_send_per_run_batch")]
        indexes = [models.Index(fields=["state", "sender"], name="batch_send_state_sender")]

    def __str__(self) -> str:
        return f"batch {self.index} of run {self.run_id}: {self.state}"


class SentTransaction(models.Model):
    """Every transaction a sender key signed: each hash of a batch (replacements too) and each gap fill."""

    batch_send = models.ForeignKey(
        BatchSend, null=True, blank=True, on_delete=models.CASCADE, related_name="transactions"
    )
    chain_id = models.PositiveBigIntegerField()
    sender = models.CharField(max_length=42)
    nonce = models.PositiveBigIntegerField()
    tx_hash = models.CharField(max_length=66, unique=True)
    raw_tx = models.TextField()
    max_fee_per_gas = Uint256Field()
    max_priority_fee_per_gas = Uint256Field()
    purpose = models.CharField(max_length=16, default="batch", help_text="batch, replacement or gap_fill")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.purpose} {self.tx_hash} (nonce {self.nonce})"


class SenderKey(models.Model):
    """One executor key on one chain: its next nonce and who may send with it now.

    The lease is the per-key sender lock, held in the database so workers on several machines
    share it: taken by a compare-and-set ``UPDATE`` (free, expired, or already ours), renewed by
    its holder, given back when done. The nonce is read and advanced under ``SELECT ... FOR
    UPDATE`` of this row (on SQLite, the write transaction serialises instead).
    """

    chain_id = models.PositiveBigIntegerField()
    address = models.CharField(max_length=42)
    next_nonce = models.PositiveBigIntegerField(null=True, blank=True)
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "address"], name="one_sender_per_chain_key")]

    def __str__(self) -> str:
        return f"sender {self.address} on chain {self.chain_id}"


class ExecutionEvent(models.Model):
    """The audit log of execution, newest last: what happened, to which run, by whom (None: the system)."""

    run = models.ForeignKey(ExecutionRun, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    message = models.TextField()
    data = models.JSONField(default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, default="system", help_text="user name, cli or system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
