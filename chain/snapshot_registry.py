"""The SnapshotRegistry contract: commit a state snapshot's root on chain, read it back, check a proof.

Plain web3.py over the compiled artifact (``contracts/src/demo/SnapshotRegistry.sol``). A block
is committed once; a second commit of the same block reverts ``AlreadyCommitted``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from chain.artifacts import bind
from chain.transact import reverts_as_chain_errors, send

ARTIFACT = "SnapshotRegistry"


@dataclass(frozen=True, slots=True)
class Commitment:
    tx_hash: str  # 0x-hex
    block: int  # the block holding the commit transaction


@dataclass(frozen=True, slots=True)
class CommittedSnapshot:
    root: str  # 0x-hex32; all zeros when nothing is committed for the block
    block_hash: str
    content_hash: str
    leaves: int


def commit_snapshot_root(
    w3: Web3,
    registry: str,
    account: LocalAccount,
    *,
    block: int,
    block_hash: str,
    root: str,
    content_hash: str,
    leaves: int,
) -> Commitment:
    """Send ``commit(block, blockHash, root, contentHash, leaves)``; wait for the receipt (``Reverted`` on failure)."""
    contract = bind(w3, ARTIFACT, registry)
    call = contract.functions.commit(block, _word(block_hash), _word(root), _word(content_hash), leaves)
    receipt = send(w3, account, call)
    return Commitment(tx_hash="0x" + bytes(receipt["transactionHash"]).hex(), block=int(receipt["blockNumber"]))


def committed_snapshot(w3: Web3, registry: str, block: int) -> CommittedSnapshot:
    contract = bind(w3, ARTIFACT, registry)
    root, block_hash, content_hash, leaves = reverts_as_chain_errors(
        lambda: contract.functions.snapshotOf(block).call()
    )
    return CommittedSnapshot(
        root="0x" + bytes(root).hex(),
        block_hash="0x" + bytes(block_hash).hex(),
        content_hash="0x" + bytes(content_hash).hex(),
        leaves=int(leaves),
    )


def registry_proves(
    w3: Web3, registry: str, *, block: int, proof: Sequence[str], account: str, asset: str, amount: int
) -> bool:
    """The registry's own ``proves``: what a holder would call to check a leaf against the committed root."""
    contract = bind(w3, ARTIFACT, registry)
    call = contract.functions.proves(
        block,
        [_word(node) for node in proof],
        Web3.to_checksum_address(account),
        Web3.to_checksum_address(asset),
        amount,
    )
    return bool(reverts_as_chain_errors(call.call))


def _word(value: str) -> bytes:
    raw = bytes(HexBytes(value))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of hex, got {len(raw)}: {value[:80]!r}")
    return raw
