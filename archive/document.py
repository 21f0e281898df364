"""The state-snapshot file: canonical JSON of every (account, asset, amount) at a block, gzipped.

Pure computation, no Django and no chain. The same state always gives the same bytes: keys
sorted, no whitespace, amounts as decimal strings (JSON numbers lose precision past 2**53),
leaves sorted by (account, asset), no timestamp in the JSON and none in the gzip header
(``mtime=0``). The file's name is the SHA-256 of those stored bytes, so a name proves its
content, and the Merkle root (``recovery/merkle.py``'s StandardMerkleTree over the leaves,
which ``@openzeppelin/merkle-tree`` and OpenZeppelin's ``MerkleProof`` accept) proves each
position to anyone holding the file, or only the root committed on chain.

Leaves are balances of the tracked tokens, vault shares included, with zero amounts left out.
A vault's *positions* (what its shares are worth in the underlying, by the vault's own
``convertToAssets`` at the block) are kept beside the leaves in ``positions``: they are in the
file and its hash, but not in the tree, whose leaves stay one kind of fact (a token balance)
that ``SnapshotRegistry.proves`` checks on chain.
"""

import gzip
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_utils import to_checksum_address

from recovery.merkle import StandardMerkleTree, keccak256

FORMAT: Final = "lifeboat-state-snapshot/1"
LEAF_ENCODING: Final = ("address", "address", "uint256")
# Level 6 (zlib's default): the level is part of what makes the bytes reproducible.
GZIP_LEVEL: Final = 6
UINT256_MAX: Final = 2**256 - 1


class SnapshotFileError(ValueError):
    """The bytes are not a state-snapshot file of this format (corrupt, truncated or altered)."""


@dataclass(frozen=True, slots=True)
class SnapshotContent:
    chain_id: int
    block: int
    block_hash: str
    assets: tuple[str, ...]  # checksummed, in the file's order
    leaves: tuple[tuple[str, str, int], ...]  # (account, asset, amount), checksummed, sorted
    positions: Mapping[str, Mapping[str, Any]]  # vault -> {"underlying", "accounts": {account: amount}}

    @property
    def account_count(self) -> int:
        return len({account for account, _, _ in self.leaves})


@dataclass(frozen=True, slots=True)
class EncodedSnapshot:
    content: SnapshotContent
    data: bytes  # the stored bytes
    sha256: str  # hex of the stored bytes' SHA-256, no 0x
    root: str  # 0x-hex32

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def build_content(
    *,
    chain_id: int,
    block: int,
    block_hash: str,
    balances: Mapping[str, Mapping[str, int]],
    positions: Mapping[str, tuple[str, Mapping[str, int]]] | None = None,
) -> SnapshotContent:
    """The snapshot of ``balances`` (asset -> account -> amount, any address case) at ``block``.

    Zero amounts are left out of the leaves; ``positions`` maps a vault to its underlying asset
    and each account's position in it (zeros left out as well).
    """
    assets = tuple(sorted((to_checksum_address(asset) for asset in balances), key=str.lower))
    leaves = []
    for asset, by_account in balances.items():
        shown = to_checksum_address(asset)
        for account, amount in by_account.items():
            _check_amount(amount)
            if amount:
                leaves.append((eip55(account), shown, amount))
    leaves.sort(key=lambda leaf: (leaf[0].lower(), leaf[1].lower()))
    shown_positions: dict[str, dict[str, Any]] = {}
    for vault, (underlying, by_account) in (positions or {}).items():
        for amount in by_account.values():
            _check_amount(amount)
        shown_positions[to_checksum_address(vault)] = {
            "underlying": to_checksum_address(underlying),
            "accounts": {
                to_checksum_address(a): v for a, v in sorted(by_account.items(), key=lambda i: i[0].lower()) if v
            },
        }
    return SnapshotContent(
        chain_id=chain_id,
        block=block,
        block_hash=block_hash.lower(),
        assets=assets,
        leaves=tuple(leaves),
        positions=shown_positions,
    )


def encode_snapshot(content: SnapshotContent) -> EncodedSnapshot:
    """The file's bytes, their SHA-256 and the Merkle root of the leaves."""
    document = {
        "format": FORMAT,
        "chain_id": content.chain_id,
        "block": content.block,
        "block_hash": content.block_hash,
        "assets": list(content.assets),
        "leaf_encoding": list(LEAF_ENCODING),
        "leaves": [[account, asset, str(amount)] for account, asset, amount in content.leaves],
        "positions": {
            vault: {"underlying": item["underlying"], "accounts": [[a, str(v)] for a, v in item["accounts"].items()]}
            for vault, item in sorted(content.positions.items(), key=lambda i: i[0].lower())
        },
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    data = gzip.compress(text.encode("ascii"), compresslevel=GZIP_LEVEL, mtime=0)
    return EncodedSnapshot(
        content=content, data=data, sha256=hashlib.sha256(data).hexdigest(), root=snapshot_root(content.leaves)
    )


def decode_snapshot(data: bytes) -> SnapshotContent:
    """Parse stored bytes back into their content; ``SnapshotFileError`` for anything else."""
    try:
        document = json.loads(gzip.decompress(data))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as error:
        raise SnapshotFileError(f"not a gzipped JSON snapshot file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotFileError(f"not a {FORMAT} file")
    if tuple(document.get("leaf_encoding") or ()) != LEAF_ENCODING:
        raise SnapshotFileError(f"leaf_encoding is {document.get('leaf_encoding')!r}, not {list(LEAF_ENCODING)}")
    try:
        leaves = tuple((str(a), str(t), _amount(v)) for a, t, v in document["leaves"])
        positions = {
            str(vault): {
                "underlying": str(item["underlying"]),
                "accounts": {str(a): _amount(v) for a, v in item["accounts"]},
            }
            for vault, item in document["positions"].items()
        }
        return SnapshotContent(
            chain_id=int(document["chain_id"]),
            block=int(document["block"]),
            block_hash=str(document["block_hash"]),
            assets=tuple(str(a) for a in document["assets"]),
            leaves=leaves,
            positions=positions,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SnapshotFileError(f"a field is missing or malformed ({type(error).__name__}: {error})") from None


def snapshot_root(leaves: Sequence[tuple[str, str, int]]) -> str:
    """The StandardMerkleTree root over the leaves (``0x`` + 64 zeros for an empty snapshot)."""
    if not leaves:
        return "0x" + "00" * 32
    return snapshot_tree(leaves).root


def snapshot_tree(leaves: Sequence[tuple[str, str, int]]) -> StandardMerkleTree:
    return StandardMerkleTree.of([list(leaf) for leaf in leaves], LEAF_ENCODING)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def eip55(address: str) -> str:
    """``address`` (0x + 40 hex digits, any case) in its EIP-55 form.

    The same result as ``eth_utils.to_checksum_address`` (tested against it) at a tenth of the
    cost: a snapshot checksums every account, 100,000 and more, and eth_utils' keccak binding
    made that the largest part of building the file.
    """
    lower = address.lower()
    if len(lower) != 42 or not lower.startswith("0x"):
        return to_checksum_address(address)  # its error message for anything malformed
    digits = lower[2:]
    digest = keccak256(digits.encode("ascii")).hex()[:40]
    return "0x" + "".join(c.upper() if h in "89abcdef" else c for c, h in zip(digits, digest, strict=True))


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= UINT256_MAX:
        raise ValueError(f"an amount must be an int in 0..2**256-1, got {amount!r}")


def _amount(value: Any) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ValueError(f"amount {value!r} is not a decimal string")
    amount = int(value)
    if amount > UINT256_MAX:
        raise ValueError(f"amount {value} overflows uint256")
    return amount
