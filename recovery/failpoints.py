"""Crash points for the fault tests: ``failpoint("after_sign")`` kills the process there when armed.

Arm one or more by naming them, comma-separated, in the environment variable
``LIFEBOAT_FAILPOINTS`` of a worker process (``LIFEBOAT_FAILPOINTS=after_sign celery -A config
worker ...``); the process then SIGKILLs itself at that point, as a power cut would: no ``finally``,
no acknowledgement, no database rollback beyond what was uncommitted. Unarmed, a failpoint costs a
dictionary lookup. The points of the batch sender (``recovery/execution.py``):

- ``after_sign``: the signed transaction is committed (state *signed*), not broadcast;
- ``after_broadcast``: broadcast (state *sent* committed), the receipt not yet read;
- ``after_receipt``: the receipt read, not yet written to the database.

And of the Snapshot approval (``governance/snapshot_approval.py``):

- ``snapshot_after_sign``: the ``approvePlan`` transactions committed, not broadcast;
- ``snapshot_after_broadcast``: broadcast, the receipts not yet read.

The variable is read from ``os.environ`` each time (not from settings): a test arms a worker
process it starts, and the in-process tests arm nothing.
"""

import os
import signal

POINTS = ("after_sign", "after_broadcast", "after_receipt", "snapshot_after_sign", "snapshot_after_broadcast")


def armed() -> set[str]:
    return {name.strip() for name in os.environ.get("LIFEBOAT_FAILPOINTS", "").split(",") if name.strip()}


def failpoint(name: str) -> None:
    """SIGKILL this process when ``name`` is armed; otherwise nothing."""
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(POINTS)}")
    if name in armed():
        os.kill(os.getpid(), signal.SIGKILL)
