"""Rows of the web app: the nonces Sign-In with Ethereum issues and spends."""

from django.db import models


class SiweNonce(models.Model):
    """A nonce the server issued for one sign-in message; ``used_at`` is set once, by the message that spent it.

    ``client_ip`` is the address the nonce was asked from: the per-address rate limit counts these rows.
    """

    nonce = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    address = models.CharField(max_length=42, blank=True, default="", help_text="who signed in with it")
    client_ip = models.GenericIPAddressField(null=True, blank=True, help_text="who asked for it")

    class Meta:
        indexes = [models.Index(fields=["client_ip", "issued_at"], name="siwe_nonce_ip_issued")]

    def __str__(self) -> str:
        return f"SIWE nonce {self.nonce} ({'used' if self.used_at else 'unused'})"
