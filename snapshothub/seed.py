"""Synthetic votes straight into the store, for benchmarks: distinct voters, power, signatures.

Unsigned (the default): random voters, random power on the hub, random signatures — votes that
never passed the sequencer's checks, for paging the hub. Signed: each vote a real single-choice
``Vote`` message signed by a key derived from its index, its id the message's digest, its power 0
(those keys hold nothing on chain): what a follower that checks every vote accepts, and whose
recount from the chain agrees with the hub's scores.
"""

import json
import os
import secrets
from typing import Any

import coincurve
from eth_utils import keccak, to_checksum_address

from snapshothub.hub import Hub, refresh_scores
from snapshothub.store import dumps
from snapshothub.typesets import DOMAIN_NAME, DOMAIN_VERSION, VOTE, digest

BASIC_FOR_AGAINST_ABSTAIN = (1, 2, 3)


class SeedError(ValueError):
    """The proposal to seed is not in the store, or the count is not positive."""


def seed_votes(
    hub: Hub, *, proposal_id: str, count: int, start_created: int | None = None, signed: bool = False
) -> int:
    """Insert ``count`` votes on ``proposal_id`` (and their messages), one ``created`` second apart from
    ``start_created`` (default: the proposal's start); then recompute its scores. Returns ``count``.

    Unsigned: voting power is random whole tokens in base units (1..1,000,000 tokens at the strategy's
    decimals) and signatures random 65-byte strings. Signed: see the module docstring.
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
        created = created0 + index
        choice = BASIC_FOR_AGAINST_ABSTAIN[index % 3]
        if signed:
            voter, vote_id, sig = _signed_vote(index, space=proposal["space"], proposal_id=proposal_id,
                                               choice=choice, created=created)  # fmt: skip
            powers = [0 for _ in strategies]
        else:
            voter = to_checksum_address(os.urandom(20))
            powers = [
                (1 + secrets.randbelow(1_000_000)) * 10 ** int(s.get("params", {}).get("decimals", 18))
                for s in strategies
            ]
            vote_id = "0x" + keccak(os.urandom(32)).hex()
            sig = "0x" + os.urandom(65).hex()
        ipfs = "bafkrei" + keccak(bytes.fromhex(vote_id[2:])).hex()[:52]
        vp = sum(
            p / 10 ** int(s.get("params", {}).get("decimals", 18)) for p, s in zip(powers, strategies, strict=True)
        )
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


def _signed_vote(index: int, *, space: str, proposal_id: str, choice: int, created: int) -> tuple[str, str, str]:
    """Voter ``index``'s vote, signed by its derived key: ``(voter, id, sig)``."""
    key = coincurve.PrivateKey(keccak(b"snapshothub-seed-voter" + index.to_bytes(8, "big")))
    voter = to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:])
    message = {
        "from": voter,
        "space": space,
        "timestamp": created,
        "proposal": proposal_id,
        "choice": choice,
        "reason": "",
        "app": "seed",
        "metadata": "{}",
    }
    message_digest = digest({"name": DOMAIN_NAME, "version": DOMAIN_VERSION}, VOTE, message)
    signature = key.sign_recoverable(message_digest, hasher=None)
    return voter, "0x" + message_digest.hex(), "0x" + (signature[:64] + bytes([signature[64] + 27])).hex()
