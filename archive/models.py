from django.conf import settings
from django.db import models


class StateSnapshot(models.Model):
    """One archived state: every tracked account's balances at a block, in a content-addressed file.

    The file lives in the ``state_snapshots`` storage under ``storage_name``; its SHA-256 is
    ``sha256`` and the StandardMerkleTree root of its leaves is ``root``. Keyed by the block's
    hash too: a block number names another block after a reorg, and ``verify`` reports a
    snapshot whose block the chain no longer has.
    """

    chain_id = models.PositiveBigIntegerField()
    block = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    assets = models.JSONField(help_text="Tracked token addresses (EIP-55), in the file's order")
    leaf_count = models.PositiveIntegerField()
    account_count = models.PositiveIntegerField()
    root = models.CharField(max_length=66, help_text="StandardMerkleTree root over (account, asset, amount)")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the stored file (hex), which names it")
    size_bytes = models.PositiveBigIntegerField()
    storage_name = models.CharField(max_length=255)
    taken_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_ok = models.BooleanField(null=True)
    verify_error = models.TextField(blank=True)
    registry = models.CharField(max_length=42, blank=True, help_text="SnapshotRegistry the root was committed to")
    commit_tx_hash = models.CharField(max_length=66, blank=True)
    committed_block = models.PositiveBigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for the periodic task",
    )

    class Meta:
        ordering = ["-block", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "block", "block_hash"], name="one_state_snapshot_per_block")
        ]

    def __str__(self) -> str:
        return f"state snapshot {self.pk} at block {self.block}"


class PeriodicSnapshotRun(models.Model):
    """How the latest run of the periodic snapshot task ended: one row (pk 1), rewritten by each run.

    A failed run is otherwise only a log line, and the next run may fail the same way for hours;
    the archive page reads this row to say so. ``error`` is redacted before it is stored.
    """

    ran_at = models.DateTimeField()
    ok = models.BooleanField()
    error = models.TextField(blank=True, help_text="Why the run failed (redacted); empty when it succeeded")
    succeeded_at = models.DateTimeField(null=True, blank=True, help_text="The latest run that succeeded")

    def __str__(self) -> str:
        return f"periodic snapshot run at {self.ran_at}: {'ok' if self.ok else 'failed'}"
