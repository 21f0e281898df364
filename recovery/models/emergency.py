"""First response on a vault: the escape-hatch files built for a deployment, and its shutdowns.

- ``EscapeHatchBuild``: one self-contained HTML file (``recovery/escape_hatch.py``) as built for a
  deployment: its name, where it was written, its SHA-256 and size, and who built it. The file is
  deterministic, so one row stands for every identical rebuild; a committee publishes the hash so
  anyone can check a copy they were handed.
- ``VaultShutdown``: a ``shutdown()`` Lifeboat sent to a deployment's vault with the guardian key,
  and who asked for it. A request that found the vault already shut down sends nothing and
  records nothing.
"""

from django.conf import settings
from django.db import models

from recovery.models.core import Deployment

__all__ = ["EscapeHatchBuild", "VaultShutdown"]


class EscapeHatchBuild(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="escape_hatch_builds")
    name = models.CharField(max_length=200, help_text="The file's name, e.g. lifeboat-escape-hatch-31337-0xAbC….html")
    path = models.CharField(max_length=1000, help_text="Where the build wrote it (on the machine that built it)")
    sha256 = models.CharField(max_length=64, help_text="Hex SHA-256 of the file's bytes")
    size = models.PositiveBigIntegerField(help_text="Bytes")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "sha256"], name="one_escape_hatch_build_per_content")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]}…)"


class VaultShutdown(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="vault_shutdowns")
    chain_id = models.PositiveBigIntegerField()
    vault = models.CharField(max_length=42)
    sent_by = models.CharField(max_length=42, help_text="The guardian account that signed shutdown()")
    tx_hash = models.CharField(max_length=66)
    block_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="Block holding the shutdown")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"shutdown of {self.vault} in {self.tx_hash}"
