"""A two-block balance replay that can stop and resume: the state of a long scan, in plain data.

``chain.balances.balances_at_two_blocks`` does the same in one call; this is for callers that
checkpoint (a Celery task that may be retried or crash): ``advance`` applies one page, and
``to_json``/``from_json`` carry everything needed to continue from the last applied block.
"""

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chain.balances import first_log_after, settled_balances
from chain.logs import RawLogPage, accumulate_balances


@dataclass(slots=True)
class TwoBlockReplay:
    token: str
    rollback_block: int
    reference_block: int
    first_block: int  # the first block this replay scans (after its starting balances)
    last_block: int  # every log up to and including this block is applied
    balances: dict[str, int] = field(default_factory=dict)
    before: dict[str, int] | None = None
    logs_applied: int = 0

    @classmethod
    def start(
        cls,
        *,
        token: str,
        rollback_block: int,
        reference_block: int,
        from_block: int,
        start: Mapping[str, int] | None = None,
    ) -> "TwoBlockReplay":
        """A replay whose balances after ``from_block - 1`` are ``start`` (nothing: from the token's birth)."""
        if not from_block - 1 <= rollback_block <= reference_block:
            raise ValueError(
                "need from_block - 1 <= rollback_block <= reference_block, "
                f"got {from_block}, {rollback_block}, {reference_block}"
            )
        balances = {account.lower(): amount for account, amount in (start or {}).items()}
        replay = cls(
            token=token.lower(),
            rollback_block=rollback_block,
            reference_block=reference_block,
            first_block=from_block,
            last_block=from_block - 1,
            balances=balances,
        )
        if rollback_block <= replay.last_block:
            replay.before = dict(balances)
        return replay

    def advance(self, page: RawLogPage) -> None:
        if page.from_block != self.last_block + 1:
            raise ValueError(f"page starts at block {page.from_block}, the replay expects {self.last_block + 1}")
        if self.before is None and page.to_block >= self.rollback_block:
            split = first_log_after(page.logs, self.rollback_block)
            self.logs_applied += accumulate_balances(page.logs[:split], self.balances)
            self.before = dict(self.balances)
            self.logs_applied += accumulate_balances(page.logs[split:], self.balances)
        else:
            self.logs_applied += accumulate_balances(page.logs, self.balances)
        self.last_block = page.to_block

    @property
    def done(self) -> bool:
        return self.last_block >= self.reference_block

    def result(self) -> tuple[dict[str, int], dict[str, int]]:
        """Balances after the rollback block and after the reference block (zero address removed)."""
        if not self.done or self.before is None:
            raise ValueError(f"the replay is at block {self.last_block}, not yet at {self.reference_block}")
        return (
            settled_balances(dict(self.before), token=self.token, block=self.rollback_block),
            settled_balances(dict(self.balances), token=self.token, block=self.reference_block),
        )

    def to_json(self) -> dict[str, Any]:
        """Everything needed to resume; amounts as decimal strings (exact)."""
        return {
            "token": self.token,
            "rollback_block": self.rollback_block,
            "reference_block": self.reference_block,
            "first_block": self.first_block,
            "last_block": self.last_block,
            "logs_applied": self.logs_applied,
            "balances": {a: str(v) for a, v in self.balances.items()},
            "before": None if self.before is None else {a: str(v) for a, v in self.before.items()},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "TwoBlockReplay":
        before = raw["before"]
        return cls(
            token=raw["token"],
            rollback_block=raw["rollback_block"],
            reference_block=raw["reference_block"],
            first_block=raw["first_block"],
            last_block=raw["last_block"],
            logs_applied=raw["logs_applied"],
            balances={a: int(v) for a, v in raw["balances"].items()},
            before=None if before is None else {a: int(v) for a, v in before.items()},
        )


def pack(value: Any) -> bytes:
    """Compressed JSON, for checkpoints and snapshots kept in the database."""
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)


def unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def pack_balances(balances: Mapping[str, int]) -> bytes:
    return pack({a: str(v) for a, v in balances.items()})


def unpack_balances(blob: bytes) -> dict[str, int]:
    return {a: int(v) for a, v in unpack(blob).items()}
