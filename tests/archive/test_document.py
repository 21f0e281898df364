"""The snapshot file and its root, without a chain: canonical bytes, the OpenZeppelin root, bad files."""

import gzip

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from archive.document import (
    LEAF_ENCODING,
    SnapshotFileError,
    build_content,
    decode_snapshot,
    eip55,
    encode_snapshot,
    snapshot_tree,
)
from tests.recovery.test_merkle import js_of

ASSET = "0x" + "aa" * 20
VAULT = "0x" + "bb" * 20
BLOCK_HASH = "0x" + "12" * 32


def _balances(n: int = 40) -> dict[str, dict[str, int]]:
    accounts = [f"0x{i:040x}" for i in range(1, n + 1)]
    return {
        ASSET: {a: (i * 10**18 + 7) if i % 5 else 0 for i, a in enumerate(accounts)},
        VAULT: {a: 2**255 + i for i, a in enumerate(accounts[::3])},
    }


def test_the_root_equals_openzeppelin_merkle_trees_for_the_same_leaves():
    encoded = encode_snapshot(build_content(chain_id=31337, block=9, block_hash=BLOCK_HASH, balances=_balances()))
    values = [[account, asset, str(amount)] for account, asset, amount in encoded.content.leaves]
    answer = js_of(values, LEAF_ENCODING)
    assert encoded.root == answer["root"]
    tree = snapshot_tree(encoded.content.leaves)
    assert [tree.get_proof(i) for i in range(len(values))] == answer["proofs"]


def test_zero_amounts_are_left_out_and_leaves_are_sorted_and_checksummed():
    content = build_content(chain_id=1, block=9, block_hash=BLOCK_HASH, balances=_balances())
    assert all(amount > 0 for _, _, amount in content.leaves)
    assert list(content.leaves) == sorted(content.leaves, key=lambda leaf: (leaf[0].lower(), leaf[1].lower()))
    assert all(account == to_checksum_address(account) for account, _, _ in content.leaves)
    assert len(content.leaves) == 32 + 14


def test_the_same_state_gives_the_same_bytes_whatever_the_input_order():
    balances = _balances()
    shuffled = {asset: dict(reversed(list(by.items()))) for asset, by in reversed(list(balances.items()))}
    first = encode_snapshot(build_content(chain_id=1, block=9, block_hash=BLOCK_HASH, balances=balances))
    second = encode_snapshot(build_content(chain_id=1, block=9, block_hash=BLOCK_HASH.upper(), balances=shuffled))
    assert first.data == second.data and first.sha256 == second.sha256
    assert b"taken" not in gzip.decompress(first.data)  # nothing of the moment it was written


def test_a_file_reads_back_to_the_same_content_with_exact_amounts():
    content = build_content(
        chain_id=1,
        block=9,
        block_hash=BLOCK_HASH,
        balances={ASSET: {"0x" + "01" * 20: 2**256 - 1}},
        positions={VAULT: (ASSET, {"0x" + "01" * 20: 10**30 + 1})},
    )
    decoded = decode_snapshot(encode_snapshot(content).data)
    assert decoded == content
    assert decoded.leaves[0][2] == 2**256 - 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not gzip at all",
        gzip.compress(b"{not json"),
        gzip.compress(b'{"format": "something-else/1"}'),
        gzip.compress(
            b'{"format":"lifeboat-state-snapshot/1","leaf_encoding":["address","address","uint256"],"leaves":[["a"]]}'
        ),
    ],
)
def test_anything_but_a_snapshot_file_is_refused_with_a_reason(data):
    with pytest.raises(SnapshotFileError):
        decode_snapshot(data)


def test_amounts_outside_uint256_are_refused():
    with pytest.raises(ValueError, match="2\\*\\*256"):
        build_content(chain_id=1, block=1, block_hash=BLOCK_HASH, balances={ASSET: {"0x" + "01" * 20: 2**256}})
    with pytest.raises(ValueError):
        build_content(chain_id=1, block=1, block_hash=BLOCK_HASH, balances={ASSET: {"0x" + "01" * 20: -1}})


@given(st.binary(min_size=20, max_size=20), st.sampled_from([str.lower, str.upper, lambda text: text]))
def test_the_fast_checksum_equals_eth_utils(raw, case):
    address = "0x" + case(raw.hex())
    assert eip55(address) == to_checksum_address(address)
