"""Reads of the archive app: snapshots, their files, and one account's leaves with their proofs."""

import functools
from typing import Any

from django.core.files.storage import Storage, storages
from django.db.models import QuerySet

from archive.document import LEAF_ENCODING, SnapshotContent, decode_snapshot, sha256_hex, snapshot_tree
from archive.exceptions import SnapshotAltered, SnapshotNotFound
from archive.models import PeriodicSnapshotRun, StateSnapshot
from recovery.merkle import StandardMerkleTree

STORAGE_ALIAS = "state_snapshots"


def snapshot_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def list_snapshots() -> QuerySet[StateSnapshot]:
    return StateSnapshot.objects.order_by("-block", "-pk")


def failed_periodic_run() -> PeriodicSnapshotRun | None:
    """The latest periodic snapshot run if it failed; ``None`` when it succeeded or none ran yet."""
    return PeriodicSnapshotRun.objects.filter(pk=1, ok=False).first()


def get_snapshot(reference: int | str) -> StateSnapshot:
    """A snapshot by id, or by its file's SHA-256 (hex, with or without 0x); ``SnapshotNotFound`` otherwise."""
    text = str(reference).strip().lower()
    row = None
    if text.isdigit() and len(text) < 19:
        row = StateSnapshot.objects.filter(pk=int(text)).first()
    elif text:
        row = StateSnapshot.objects.filter(sha256=text.removeprefix("0x")).first()
    if row is None:
        raise SnapshotNotFound(
            f"there is no state snapshot {str(reference)[:80]}: give its id or its file's SHA-256",
            snapshot=str(reference)[:80],
        )
    return row


def read_snapshot_file(snapshot: StateSnapshot) -> bytes:
    """The stored bytes; ``SnapshotNotFound`` when the file is gone from the storage."""
    try:
        with snapshot_storage().open(snapshot.storage_name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise SnapshotNotFound(
            f"the file of snapshot {snapshot.pk} ({snapshot.storage_name}) is missing from the snapshot storage",
            snapshot=snapshot.pk,
        ) from None


def account_proof(*, snapshot: StateSnapshot, account: str) -> dict[str, Any]:
    """Each leaf of ``account`` (EIP-55) in the snapshot with its proof, the root, its position in any
    vault, and the registry commitment if any. The leaves come from the stored file, checked against
    the recorded SHA-256 first: a proof is never served from an altered file."""
    content, tree = _content_and_tree(snapshot)
    leaves = []
    if tree is not None:
        for index, (holder, asset, amount) in enumerate(content.leaves):
            if holder == account:
                leaves.append(
                    {
                        "account": holder,
                        "asset": asset,
                        "amount": str(amount),
                        "leaf_hash": tree.leaf_hash([holder, asset, amount]),
                        "proof": tree.get_proof(index),
                    }
                )
    positions = [
        {"vault": vault, "underlying": item["underlying"], "amount": str(item["accounts"][account])}
        for vault, item in content.positions.items()
        if account in item["accounts"]
    ]
    return {
        "snapshot": snapshot.pk,
        "chain_id": snapshot.chain_id,
        "block": snapshot.block,
        "block_hash": snapshot.block_hash,
        "root": snapshot.root,
        "sha256": snapshot.sha256,
        "leaf_encoding": list(LEAF_ENCODING),
        "account": account,
        "leaves": leaves,
        "positions": positions,
        "registry": commitment_of(snapshot),
    }


def commitment_of(snapshot: StateSnapshot) -> dict[str, Any] | None:
    if not snapshot.commit_tx_hash:
        return None
    return {"address": snapshot.registry, "tx_hash": snapshot.commit_tx_hash, "block": snapshot.committed_block}


def _content_and_tree(snapshot: StateSnapshot) -> tuple[SnapshotContent, StandardMerkleTree | None]:
    data = read_snapshot_file(snapshot)
    if sha256_hex(data) != snapshot.sha256:
        raise SnapshotAltered(
            f"the file of snapshot {snapshot.pk} no longer matches its recorded SHA-256 (altered): "
            "run `manage.py snapshot verify` and restore it from a copy",
            snapshot=snapshot.pk,
        )
    return _parsed(snapshot.sha256, data)


@functools.lru_cache(maxsize=2)
def _parsed(sha256: str, data: bytes) -> tuple[SnapshotContent, StandardMerkleTree | None]:
    """Parsed content and tree of one file, cached by its hash: a holder's lookups reuse the tree."""
    content = decode_snapshot(data)
    return content, snapshot_tree(content.leaves) if content.leaves else None
