"""The batch commitment: the Merkle root a vote approves and ``RecoveryExecutor`` checks.

Each migration batch is one leaf of an OpenZeppelin ``StandardMerkleTree`` with the leaf
encoding ``(uint256 chainId, address executor, uint256 planId, uint256 batchIndex, bytes32
contentHash)``, where ``contentHash = keccak256(abi.encode(address[] recipients, uint256[]
amounts))`` — exactly what ``RecoveryExecutor.executeBatch`` recomputes on chain, so a batch can
be neither altered nor invented after the vote. The chain id, the executor's address and the
plan id are in every leaf: an approved root cannot be replayed on another chain, another
executor or under another plan id.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from recovery.merkle import StandardMerkleTree

BATCH_LEAF_ENCODING = ("uint256", "address", "uint256", "uint256", "bytes32")


@dataclass(frozen=True, slots=True)
class Batch:
    index: int
    recipients: tuple[str, ...]
    amounts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.amounts)


@dataclass(frozen=True, slots=True)
class CommitmentDomain:
    """What binds a commitment to one place: the chain, the RecoveryExecutor and the on-chain plan id."""

    chain_id: int
    recovery_executor: str
    plan_id: int


def batch_content_hash(recipients: Sequence[str], amounts: Sequence[int]) -> bytes:
    if len(recipients) != len(amounts):
        raise ValueError(
            f"{len(recipients)} recipients but {len(amounts)} amounts: a batch pairs each recipient with one amount"
        )
    return keccak(encode(["address[]", "uint256[]"], [[to_checksum_address(r) for r in recipients], list(amounts)]))


def batch_leaf_value(domain: CommitmentDomain, batch: Batch) -> list[object]:
    """The leaf value of ``batch`` under ``domain``, in ``BATCH_LEAF_ENCODING`` order."""
    return [
        domain.chain_id,
        to_checksum_address(domain.recovery_executor),
        domain.plan_id,
        batch.index,
        "0x" + batch_content_hash(batch.recipients, batch.amounts).hex(),
    ]


def build_commitment(batches: Sequence[Batch], *, domain: CommitmentDomain) -> StandardMerkleTree:
    """The commitment tree over ``batches`` bound to ``domain``; their indexes must be 0..n-1 in order."""
    for position, batch in enumerate(batches):
        if batch.index != position:
            raise ValueError(f"batch at position {position} has index {batch.index}: indexes must run 0..n-1")
    return StandardMerkleTree.of([batch_leaf_value(domain, batch) for batch in batches], BATCH_LEAF_ENCODING)
