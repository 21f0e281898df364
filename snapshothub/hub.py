"""The hub's state shared by the sequencer and GraphQL: spaces, store, node, relayer key, clock, and scores."""

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from snapshothub.evm import Evm, as_float
from snapshothub.store import Store, dumps

# The real sequencer waits up to this long after a proposal's end before it computes final scores.
REAL_FINALIZE_DELAY_SECONDS = 60


@dataclass
class Hub:
    """One running hub. ``finalize_delay``: seconds after a proposal's end before its scores turn final
    (the real sequencer's is 60; 0 by default here so tests need not wait). ``body_limit``: the space's
    proposal body limit in characters (None: only the 100 kB message limit applies)."""

    store: Store
    evm: Evm
    spaces: dict[str, dict[str, Any]]
    relayer: LocalAccount = field(default_factory=Account.create)
    finalize_delay: int = 0
    body_limit: int | None = None
    clock: Callable[[], float] = time.time

    def now(self) -> int:
        return round(self.clock())


def cid(payload: Any) -> str:
    """A CIDv1 (raw, sha2-256, base32) of ``payload``'s JSON: what pinning it would name it."""
    multihash = b"\x01\x55\x12\x20" + hashlib.sha256(dumps(payload).encode()).digest()
    return "b" + base64.b32encode(multihash).decode().lower().rstrip("=")


def proposal_state(proposal: dict[str, Any], now: int) -> str:
    """pending / active / closed by wall clock, as the real hub says it (active once past start)."""
    if now > proposal["end"]:
        return "closed"
    if now > proposal["start"]:
        return "active"
    return "pending"


def valid_choice(proposal_type: str, choice: Any, choices: list[str]) -> bool:
    """Whether ``choice`` is valid for a proposal of ``proposal_type`` (single choice and basic: 1..n)."""
    if proposal_type in ("single-choice", "basic"):
        return isinstance(choice, int) and not isinstance(choice, bool) and 1 <= choice <= len(choices)
    if proposal_type in ("approval", "ranked-choice"):
        return isinstance(choice, list) and all(isinstance(c, int) and 1 <= c <= len(choices) for c in choice)
    return True


def refresh_scores(hub: Hub, db: Any, proposal_id: str, *, final: bool) -> None:
    """Recompute a proposal's scores from its current votes inside the write transaction ``db``.

    Scores per choice are exact sums of base units turned into floats once (per strategy);
    ``final`` re-reads any vote whose power was not final, then marks the scores final.
    """
    row = db.execute(
        "SELECT type, choices, strategies, snapshot FROM proposals WHERE id = ?", (proposal_id,)
    ).fetchone()
    strategies = json.loads(row["strategies"])
    choices = json.loads(row["choices"])
    sums = [[0] * len(strategies) for _ in choices]
    count = 0
    for vote in db.execute(
        "SELECT id, voter, choice, vp_raw, vp_state FROM votes WHERE proposal = ?", (proposal_id,)
    ).fetchall():
        count += 1
        raw = [int(v) for v in json.loads(vote["vp_raw"])]
        if final and vote["vp_state"] != "final":
            raw, _ = hub.evm.voting_power(strategies, vote["voter"], row["snapshot"])
            db.execute(
                "UPDATE votes SET vp_raw = ?, vp = ?, vp_state = 'final' WHERE id = ?",
                (dumps([str(v) for v in raw]), sum(as_float(raw, strategies)), vote["id"]),
            )
        choice = json.loads(vote["choice"])
        if row["type"] in ("single-choice", "basic") and valid_choice(row["type"], choice, choices):
            for index, value in enumerate(raw):
                sums[choice - 1][index] += value
    by_strategy = [as_float(per_choice, strategies) for per_choice in sums]
    totals = as_float([sum(per_choice[i] for per_choice in sums) for i in range(len(strategies))], strategies)
    db.execute(
        "UPDATE proposals SET scores = ?, scores_by_strategy = ?, scores_total = ?, scores_state = ?, "
        "scores_updated = ?, votes = ? WHERE id = ?",
        (
            dumps([sum(s) for s in by_strategy]),
            dumps(by_strategy),
            sum(totals),
            "final" if final else "pending",
            hub.now(),
            count,
            proposal_id,
        ),
    )


def finalize_due(hub: Hub, proposal_ids: list[str]) -> None:
    """Turn the scores of these proposals final when they closed at least ``finalize_delay`` seconds ago."""
    if not proposal_ids:
        return
    now = hub.now()
    marks = ",".join("?" * len(proposal_ids))
    due = hub.store.read(
        f'SELECT id FROM proposals WHERE id IN ({marks}) AND scores_state != ? AND "end" + ? < ?',  # noqa: S608
        [*proposal_ids, "final", hub.finalize_delay, now],
    )
    for item in due:
        with hub.store.write() as db:
            state = db.execute("SELECT scores_state FROM proposals WHERE id = ?", (item["id"],)).fetchone()
            if state["scores_state"] != "final":
                refresh_scores(hub, db, item["id"], final=True)
