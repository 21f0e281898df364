"""Synthetic votes straight into the store, for benchmarks: distinct random voters, power, signatures."""

import json
import os
import secrets
from typing import Any

from eth_utils import keccak, to_checksum_address

from snapshothub.hub import Hub, refresh_scores
from snapshothub.store import dumps

BASIC_FOR_AGAINST_ABSTAIN = (1, 2, 3)


class SeedError(ValueError):
    """The proposal to seed is not in the store, or the count is not positive."""


def seed_votes(hub: Hub, *, proposal_id: str, count: int, start_created: int | None = None) -> int:
    """Insert ``count`` votes on ``proposal_id`` (and their messages), one ``created`` second apart from
    ``start_created`` (default: the proposal's start); then recompute its scores. Returns ``count``.

    Voting power is random whole tokens in base units (1..1,000,000 tokens at the strategy's decimals);
    signatures are random 65-byte strings (these votes never pass the sequencer's checks).
    """
    if count <= 0:
        raise SeedError("--count must be 1 or more")
    rows = hub.store.read("SELECT * FROM proposals WHERE id = ?", (proposal_id,))
    if not rows:
        raise SeedError(f"there is no proposal {proposal_id} in this hub's store")
    proposal = rows[0]
    strategies: list[dict[str, Any]] = json.loads(proposal["strategies"])
    created0 = proposal["start"] if start_created is None else start_created
    votes, messages = [], []
    for index in range(count):
        voter = to_checksum_address(os.urandom(20))
        powers = [
            (1 + secrets.randbelow(1_000_000)) * 10 ** int(s.get("params", {}).get("decimals", 18)) for s in strategies
        ]
        vote_id = "0x" + keccak(os.urandom(32)).hex()
        created = created0 + index
        sig = "0x" + os.urandom(65).hex()
        ipfs = "bafkrei" + os.urandom(26).hex()[:52]
        vp = sum(
            p / 10 ** int(s.get("params", {}).get("decimals", 18)) for p, s in zip(powers, strategies, strict=True)
        )
        choice = BASIC_FOR_AGAINST_ABSTAIN[index % 3]
        votes.append(
            (vote_id, ipfs, voter, created, proposal["space"], proposal_id, dumps(choice), "{}", "", "seed", vp,
             dumps([str(p) for p in powers]), "final")
        )  # fmt: skip
        messages.append((vote_id, ipfs, voter, "0.1.4", created, proposal["space"], "vote", sig, "0x"))
    with hub.store.write() as db:
        db.executemany(
            "INSERT INTO votes (id, ipfs, voter, created, space, proposal, choice, metadata, reason, app, vp, vp_raw, "
            "vp_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            votes,
        )
        db.executemany(
            "INSERT INTO messages (id, ipfs, address, version, timestamp, space, type, sig, receipt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        refresh_scores(hub, db, proposal_id, final=False)
    return count
