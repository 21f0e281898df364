"""Execution of approved plans: runs, batch sends, every transaction hash, sender nonces, the audit log."""

__all__: list[str] = []
