"""Recovery models. Amounts use ``Uint256Field`` (see ``recovery/fields.py``)."""

from django.conf import settings
from django.db import models

from recovery.fields import Uint256DeltaField, Uint256Field


class Deployment(models.Model):
    """A set of contracts Lifeboat works with on one chain (the dev chain's demo stack, or a protocol's)."""

    chain_id = models.PositiveBigIntegerField()
    rpc_url = models.CharField(max_length=500)
    deployer = models.CharField(max_length=42)
    executor = models.CharField(max_length=42, help_text="Address holding the RecoveryExecutor's executor role")
    committee = models.CharField(max_length=42, help_text="Address holding the guardian role")
    holder_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Filled by the periodic check_deployment task.
    checked_at = models.DateTimeField(null=True, blank=True)
    head_block = models.PositiveBigIntegerField(null=True, blank=True)
    healthy = models.BooleanField(null=True, help_text="Every contract had code at the last check")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"deployment {self.pk} on chain {self.chain_id}"


class DeployedContract(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="contracts")
    role = models.CharField(max_length=64, help_text="What the contract is to Lifeboat: token, governor, vault, ...")
    name = models.CharField(max_length=128, help_text="Artifact (contract) name")
    address = models.CharField(max_length=42)
    block = models.PositiveBigIntegerField(help_text="Block of the deployment transaction")
    tx_hash = models.CharField(max_length=66)
    has_code = models.BooleanField(null=True)

    class Meta:
        ordering = ["block", "pk"]
        constraints = [models.UniqueConstraint(fields=["deployment", "role"], name="one_contract_per_role")]

    def __str__(self) -> str:
        return f"{self.role} {self.address}"


class IncidentKind(models.TextChoices):
    INTERFACE_DOWNTIME = "interface_downtime", "Interface downtime"
    ORACLE_FAILURE = "oracle_failure", "Oracle failure"
    PROTOCOL_EXPLOIT = "protocol_exploit", "Protocol exploit"
    OTHER = "other", "Other"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANALYSING = "analysing", "Analysing impact"
    PLANNING = "planning", "Planning recovery"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class Incident(models.Model):
    """What broke, where and when. Addresses are stored checksummed; hashes as 0x-hex."""

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=IncidentKind.choices)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    description = models.TextField(blank=True)
    chain_id = models.PositiveBigIntegerField()
    affected_contracts = models.JSONField(default=list)
    affected_tokens = models.JSONField(default=list)
    detected_block = models.PositiveBigIntegerField(null=True, blank=True)
    exploit_transactions = models.JSONField(default=list)
    exploiter_addresses = models.JSONField(default=list)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    opened_via = models.CharField(max_length=64, default="api", help_text="api, cli, or the monitor that opened it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # The roles' rights (recovery/roles.py gives them to the committee and executor groups).
        permissions = [
            ("open_incident", "Open an incident"),
            ("run_analysis", "Request and cancel impact analyses"),
            ("build_plan", "Build recovery plan versions"),
            ("run_execution", "Run approved batches on chain"),
            ("pause_execution", "Pause and resume execution"),
            ("manage_monitors", "Configure monitors, acknowledge firings, record unpauses"),
            ("take_snapshot", "Take, verify and commit state snapshots"),
            ("shut_down", "Pause or shut down a watched contract from Lifeboat"),
        ]

    def __str__(self) -> str:
        return f"incident {self.pk}: {self.title}"


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ImpactAnalysis(models.Model):
    """The state diff of an incident between the rollback block and the reference block.

    ``partial_state`` holds each asset's replay up to its last applied block range; a
    crashed or retried computation continues from there.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="analyses")
    rollback_block = models.PositiveBigIntegerField(help_text="Last good block")
    reference_block = models.PositiveBigIntegerField(help_text="Now, or the block the venue froze at")
    from_block = models.PositiveBigIntegerField(default=0, help_text="Where the log scan starts (token deployment)")
    tracked_assets = models.JSONField(default=list, help_text="Token addresses, checksummed")
    status = models.CharField(max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING)
    cancel_requested = models.BooleanField(default=False)
    blocks_done = models.PositiveBigIntegerField(default=0)
    blocks_total = models.PositiveBigIntegerField(default=0)
    logs_done = models.PositiveBigIntegerField(default=0)
    price_feed = models.CharField(max_length=42, blank=True, help_text="AggregatorV3 feed valuing losses")
    position_readers = models.JSONField(default=dict, help_text="{token: reader name}: positions beyond balances")
    partial_state = models.BinaryField(null=True, blank=True, help_text="Each asset's replay so far, compressed")
    summary = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds_scanning = models.FloatField(default=0, help_text="Timing only; never an amount")
    seconds_storing = models.FloatField(default=0, help_text="Timing only; never an amount")
    # The chain the analysis was checked against, and the blocks it used, as the node gave them
    # at request time; the computation checks them again, so a reorg or another chain fails it.
    node_chain_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="eth_chainId of the node")
    rollback_block_hash = models.CharField(max_length=66, blank=True)
    reference_block_hash = models.CharField(max_length=66, blank=True)
    from_block_hash = models.CharField(max_length=66, blank=True)
    unconfirmed = models.BooleanField(
        default=False, help_text="The reference block was within the confirmation depth of the head, by request"
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running it (a live run is not started twice)"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"impact analysis {self.pk} of incident {self.incident_id}"


class ImpactKind(models.TextChoices):
    BALANCE = "balance", "Token balance"
    POSITION = "position", "Position in the underlying asset"


class AccountImpact(models.Model):
    """One account's balance of one asset (or its position in the asset's underlying) at the
    rollback and reference blocks."""

    # No database-level foreign key or separate index: rows are written only by the impact
    # service, holding the analysis row lock, in the transaction that completes it; a per-row
    # constraint check doubled the cost of storing a million rows. Django still cascades deletes,
    # and the unique constraint's index (analysis first) serves every lookup.
    analysis = models.ForeignKey(
        ImpactAnalysis, on_delete=models.CASCADE, related_name="accounts", db_constraint=False, db_index=False
    )
    account = models.CharField(max_length=42)
    asset = models.CharField(max_length=42)
    kind = models.CharField(max_length=16, choices=ImpactKind.choices, default=ImpactKind.BALANCE)
    before = Uint256Field()
    after = Uint256Field()
    delta = Uint256DeltaField()  # after - before: any difference of two uint256

    class Meta:
        # The unique constraint's index also serves "this account in this analysis" lookups.
        constraints = [
            models.UniqueConstraint(fields=["analysis", "account", "asset", "kind"], name="one_row_per_account_asset")
        ]
        indexes = [models.Index(fields=["analysis", "asset", "kind", "delta"], name="impact_delta")]

    def __str__(self) -> str:
        return f"{self.account} {self.asset}: {self.before} -> {self.after}"


class BalanceSnapshot(models.Model):
    """Every holder's balance of a token at a block: a starting point for later scans.

    Keyed by the block's hash as well as its number: before use, the hash is compared with the
    chain's, and a snapshot of a block the chain no longer has (a reorg, a restarted dev chain)
    is deleted, never replayed from.
    """

    chain_id = models.PositiveBigIntegerField()
    token = models.CharField(max_length=42)
    block = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66, blank=True)
    from_block = models.PositiveBigIntegerField(help_text="The scan that built it started here")
    account_count = models.PositiveIntegerField()
    balances = models.BinaryField(help_text="zlib-compressed JSON {account: decimal string}")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "token", "block", "block_hash"], name="one_snapshot_per_block")
        ]

    def __str__(self) -> str:
        return f"{self.token} at block {self.block}"


class PlanMode(models.TextChoices):
    RESTITUTE = "restitute", "Restitute each loss"
    RESTORE = "restore", "Restore each balance at the rollback block"
    RESTORE_POSITIONS = "restore_positions", "Restore each margin position at the rollback block on a migrated venue"


class PlanPolicy(models.TextChoices):
    FULL = "full", "Full"
    PRO_RATA = "pro_rata", "Pro rata to the budget"


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    COMMITTED = "committed", "Committed"


class PlanDelivery(models.TextChoices):
    """How a plan's payments reach recipients (``RecoveryExecutor.Delivery``: 0, 1, 2)."""

    PUSH = "push", "Pushed in batches by the executor"
    PUSH_FALLBACK = "push_fallback", "Pushed, a refused transfer credited for the recipient to claim (restitute only)"
    PULL = "pull", "Claimed by each holder until the claim deadline"


class RecoveryPlan(models.Model):
    """What to do about an incident: one version of the allocation, batches and calls."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="plans")
    analysis = models.ForeignKey(ImpactAnalysis, on_delete=models.PROTECT, related_name="plans")
    version = models.PositiveIntegerField()
    mode = models.CharField(max_length=32, choices=PlanMode.choices)
    policy = models.CharField(max_length=16, choices=PlanPolicy.choices)
    exclusions = models.JSONField(default=list)
    second_class = models.JSONField(
        default=list, help_text="Pro rata only: accounts paid only from what the first class leaves (EIP-55)"
    )
    cap_numerator = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Pro-rata cap: nobody is paid above claim * numerator // denominator"
    )
    cap_denominator = models.PositiveBigIntegerField(null=True, blank=True)
    dust_threshold = Uint256Field(default=0)
    parameter_changes = models.JSONField(
        default=list, help_text="Encoded calls: target, value, calldata, signature, args"
    )
    gas_ceiling = models.PositiveBigIntegerField(default=10_000_000)
    delivery = models.CharField(max_length=16, choices=PlanDelivery.choices, default=PlanDelivery.PUSH)
    claim_deadline = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Pull only: the last unix timestamp a claim is accepted"
    )
    recovery_executor = models.CharField(
        max_length=42, blank=True, help_text="EIP-55 address of the RecoveryExecutor the batch leaves are bound to"
    )
    auto_execute = models.BooleanField(default=False, help_text="Execution starts by itself once the plan is approved")
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    summary = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["incident", "version"], name="one_plan_per_version")]

    def __str__(self) -> str:
        return f"plan {self.pk} (incident {self.incident_id} v{self.version})"


class PlanAsset(models.Model):
    """One asset of a plan: its budget, allocation tree and batch commitment.

    ``onchain_plan_id`` is the id ``RecoveryExecutor.approvePlan`` gets for this asset.
    """

    plan = models.ForeignKey(RecoveryPlan, on_delete=models.CASCADE, related_name="assets")
    asset = models.CharField(max_length=42)
    payout_token = models.CharField(max_length=42, help_text="Token paid: the asset (restitute) or its migrated token")
    venue = models.CharField(
        max_length=42, blank=True, help_text="Restore positions only: EIP-55 address of the migrated margin market"
    )
    budget = Uint256Field(null=True, blank=True)
    total_claims = Uint256Field(default=0)
    total_allocated = Uint256Field(default=0)
    dust_count = models.PositiveIntegerField(default=0)
    dust_total = Uint256Field(default=0)
    allocation_root = models.CharField(max_length=66, blank=True)
    commitment_root = models.CharField(max_length=66, blank=True)
    onchain_plan_id = Uint256Field(null=True, blank=True)
    allocation_dump = models.JSONField(null=True, blank=True, help_text="StandardMerkleTree standard-v1 dump")
    allocation_nodes = models.BinaryField(
        null=True, blank=True, help_text="The allocation tree's nodes, 32 bytes each: proofs read only what they need"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "asset"], name="one_entry_per_plan_asset")]

    def __str__(self) -> str:
        return f"{self.asset} in plan {self.plan_id}"


class Allocation(models.Model):
    plan_asset = models.ForeignKey(PlanAsset, on_delete=models.CASCADE, related_name="allocations")
    account = models.CharField(max_length=42)
    claim = Uint256Field()
    amount = Uint256Field()
    leaf_index = models.PositiveIntegerField(help_text="Index of (account, amount) in the allocation tree's values")
    tree_index = models.PositiveIntegerField(help_text="Position of its leaf in the tree's node array")
    batch_index = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan_asset", "account"], name="one_allocation_per_account")]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"


class MigrationBatch(models.Model):
    plan_asset = models.ForeignKey(PlanAsset, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    recipients = models.JSONField()
    amounts = models.JSONField(help_text="Decimal strings, base units")
    total = Uint256Field()
    leaf_hash = models.CharField(max_length=66)
    gas_estimate = models.PositiveBigIntegerField()
    positions = models.JSONField(
        null=True,
        blank=True,
        help_text="Restore positions only: the rows committed, in recipients' order (chain.margin.RestoreRow, "
        "decimal strings)",
    )

    class Meta:
        ordering = ["plan_asset", "index"]
        constraints = [models.UniqueConstraint(fields=["plan_asset", "index"], name="one_batch_per_index")]

    def __str__(self) -> str:
        return f"batch {self.index} of {self.plan_asset}"
