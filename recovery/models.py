"""Recovery models. Amounts use ``Uint256Field`` (see ``recovery/fields.py``)."""

from django.db import models


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
