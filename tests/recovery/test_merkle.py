"""recovery.merkle against @openzeppelin/merkle-tree itself, run through Node.

Every comparison asks the JS library (tests/js/merkle_oracle.mjs) for the same tree and
checks roots, proofs and dumps are identical, and that dumps cross between the two. Node
is part of this project's toolchain: if it is missing these tests fail rather than skip.
Pure computation: no database, no Django.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery.commitment import BATCH_LEAF_ENCODING
from recovery.merkle import MerkleTreeError, StandardMerkleTree, leaf_hash
from recovery.plans import ALLOCATION_LEAF_ENCODING

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE = REPO_ROOT / "tests" / "js" / "merkle_oracle.mjs"
UINT256_MAX = 2**256 - 1
ADDRESS_AMOUNT = ("address", "uint256")


def oracle(request: dict[str, Any]) -> Any:
    """Ask the JS library; a batch request gets a list of answers."""
    try:
        result = subprocess.run(
            ["node", str(ORACLE)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=300,
            check=False,
        )
    except FileNotFoundError:
        pytest.fail("node is not on PATH: these tests compare against @openzeppelin/merkle-tree and need Node")
    assert result.returncode == 0, f"merkle oracle failed ({result.returncode}): {result.stderr}"
    return json.loads(result.stdout)


def js_of(
    values: list[Any], encoding: tuple[str, ...], *, sort_leaves: bool = True, proofs: bool = True
) -> dict[str, Any]:
    answer = oracle(
        {"op": "of", "values": values, "encoding": list(encoding), "sortLeaves": sort_leaves, "withProofs": proofs}
    )
    assert "error" not in answer, answer
    return answer


def address(seed: int) -> str:
    return "0x" + keccak(seed.to_bytes(32, "big"))[:20].hex()


def amount(seed: int) -> int:
    return (seed * 7_919 + 13) * 10**15


def content_hash(recipients: list[str], amounts: list[int]) -> str:
    """The batch content hash RecoveryExecutor recomputes: keccak256(abi.encode(address[], uint256[]))."""
    return "0x" + keccak(eth_abi.encode(["address[]", "uint256[]"], [recipients, amounts])).hex()


def address_amount_values(count: int) -> list[list[Any]]:
    return [[address(i), str(amount(i))] for i in range(count)]


# Each case: leaf encoding and JSON-ready values (uints as decimal strings, as JS users pass them).
CASES: dict[str, tuple[tuple[str, ...], list[list[Any]]]] = {
    "address_amount": (
        ADDRESS_AMOUNT,
        [
            *address_amount_values(21),
            [to_checksum_address(address(100)), "0"],
            ["0X" + address(101)[2:].upper(), str(UINT256_MAX)],
            [address(3), str(amount(3))],  # a duplicate of values[3]
        ],
    ),
    # The allocation tree's leaf, which a pull plan's claim proves: [leaf index, account, amount].
    "allocation_claim_leaf": (
        ALLOCATION_LEAF_ENCODING,
        [[str(i), address(i), str(amount(i))] for i in range(25)] + [["25", address(3), "0"]],
    ),
    # A push batch's leaf: [chainId, executor, planId, batchIndex, contentHash].
    "domain_bound_batch_leaf": (
        BATCH_LEAF_ENCODING,
        [
            [
                "31337",
                address(500),
                str(2**200 + 7),
                str(index),
                content_hash(
                    [address(index * 10 + k) for k in range(index + 1)], [amount(k) for k in range(index + 1)]
                ),
            ]
            for index in range(7)
        ],
    ),
    "batch_commitment": (
        ("uint256", "bytes32"),
        [
            [
                str(index),
                content_hash(
                    [address(index * 10 + k) for k in range(index + 1)], [amount(k) for k in range(index + 1)]
                ),
            ]
            for index in range(9)
        ],
    ),
    "address_and_amount_arrays": (
        ("address[]", "uint256[]"),
        [
            [[address(1), address(2)], ["1", "2"]],
            [[], []],
            [[address(3)], [str(UINT256_MAX)]],
            [[address(i) for i in range(10)], [str(amount(i)) for i in range(10)]],
            [[address(4), address(4)], ["0", "0"]],
        ],
    ),
    "string": (
        ("string",),
        [["alice"], ["bob"], [""], ["ünïcödé ✓"], ["0x1234"], ["a" * 100], ["bob"]],
    ),
    "bool": (("bool",), [[True], [False], [True]]),
    "signed_and_small_static_types": (
        ("int256", "bytes4", "bool", "uint8"),
        [
            ["-1", "0xdeadbeef", False, "255"],
            ["0", "0x00000000", True, "0"],
            [str(-(2**255)), "0x01020304", True, "7"],
            [str(2**255 - 1), "0xFFFFFFFF", False, "128"],
            ["0x7f", "0xabcdef01", True, "0x10"],
        ],
    ),
    "dynamic_bytes": (("bytes", "uint16"), [["0x", "1"], ["0x00", "2"], ["0x" + "ab" * 70, "65535"]]),
    "tuple_array": (
        ("(uint256,address)[]",),
        [[[["1", address(1)], ["2", address(2)]]], [[]], [[[str(UINT256_MAX), address(3)]]]],
    ),
}


def assert_same_as_openzeppelin(tree: StandardMerkleTree, js: dict[str, Any], values: list[Any]) -> None:
    assert tree.root == js["root"]
    assert [tree.leaf_hash(value) for value in values] == js["leafHashes"]
    assert [tree.get_proof(i) for i in range(len(values))] == js["proofs"]
    assert [tree.get_proof(value) for value in values] == js["proofsByValue"]
    assert tree.dump() == js["dump"]


# ---------------------------------------------------------------------------------------
# Same trees as OpenZeppelin
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_roots_proofs_and_dumps_match_openzeppelin_for_each_leaf_encoding(case: str) -> None:
    encoding, values = CASES[case]
    tree = StandardMerkleTree.of(values, encoding)
    assert_same_as_openzeppelin(tree, js_of(values, encoding), values)


def test_a_plans_allocation_tree_matches_openzeppelin_with_the_claim_leaf() -> None:
    values = [[str(i), address(i), str(amount(i))] for i in range(300)]
    tree = StandardMerkleTree.of(values, ALLOCATION_LEAF_ENCODING)
    assert_same_as_openzeppelin(tree, js_of(values, ALLOCATION_LEAF_ENCODING), values)


def test_roots_and_proofs_match_openzeppelin_for_address_amount_leaves() -> None:
    values = address_amount_values(300)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    assert_same_as_openzeppelin(tree, js_of(values, ADDRESS_AMOUNT), values)


@pytest.mark.parametrize("case", ["address_amount", "batch_commitment", "string"])
def test_unsorted_trees_match_openzeppelin_with_sort_leaves_off(case: str) -> None:
    encoding, values = CASES[case]
    tree = StandardMerkleTree.of(values, encoding, sort_leaves=False)
    assert_same_as_openzeppelin(tree, js_of(values, encoding, sort_leaves=False), values)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_small_and_odd_sized_trees_match_openzeppelin(count: int) -> None:
    values = address_amount_values(count)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    assert_same_as_openzeppelin(tree, js_of(values, ADDRESS_AMOUNT), values)


def test_a_single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof() -> None:
    value = [address(1), str(amount(1))]
    tree = StandardMerkleTree.of([value], ADDRESS_AMOUNT)
    assert tree.root == "0x" + leaf_hash(ADDRESS_AMOUNT, value).hex()
    assert tree.get_proof(0) == []
    assert tree.verify(0, [])
    assert StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, value, [])
    assert tree.dump()["tree"] == [tree.root]


def test_duplicate_values_get_distinct_leaves_and_lookup_by_value_picks_the_last_like_openzeppelin() -> None:
    value = [address(7), "70"]
    values = [value, [address(8), "80"], value, value]
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    js = js_of(values, ADDRESS_AMOUNT)
    assert_same_as_openzeppelin(tree, js, values)
    assert len({tree.tree_index(i) for i in range(4)}) == 4
    assert tree.leaf_lookup(value) == 3


def test_python_ints_and_bytes_give_the_same_tree_as_decimal_and_hex_strings() -> None:
    strings = address_amount_values(40)
    natives = [[bytes.fromhex(a[2:]), int(v)] for a, v in strings]
    hexes = [[a, hex(int(v))] for a, v in strings]
    roots = {StandardMerkleTree.of(vs, ADDRESS_AMOUNT).root for vs in (strings, natives, hexes)}
    assert roots == {js_of(strings, ADDRESS_AMOUNT)["root"]}


def test_python_int_amounts_are_dumped_as_the_decimal_strings_openzeppelin_users_pass() -> None:
    strings = address_amount_values(12)
    ints = [[a, int(v)] for a, v in strings]
    assert StandardMerkleTree.of(ints, ADDRESS_AMOUNT).dump() == js_of(strings, ADDRESS_AMOUNT)["dump"]


def test_batch_commitment_leaf_is_the_one_the_recovery_executor_recomputes() -> None:
    recipients = [address(1), address(2)]
    amounts = [10**18, 5 * 10**17]
    digest = keccak(eth_abi.encode(["address[]", "uint256[]"], [recipients, amounts]))
    expected = keccak(keccak(eth_abi.encode(["uint256", "bytes32"], [4, digest])))
    assert leaf_hash(["uint256", "bytes32"], [4, "0x" + digest.hex()]) == expected
    assert leaf_hash(["uint256", "bytes32"], [4, digest]) == expected


# ---------------------------------------------------------------------------------------
# Dumps in both directions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_a_python_dump_loads_in_openzeppelin_with_the_same_root_and_verifying_proofs(case: str) -> None:
    encoding, values = CASES[case]
    tree = StandardMerkleTree.of(values, encoding)
    answer = oracle({"op": "load", "dump": json.loads(tree.dumps())})
    assert "error" not in answer, answer
    assert answer["root"] == tree.root
    assert answer["proofs"] == [tree.get_proof(i) for i in range(len(values))]
    assert answer["verified"] is True


@pytest.mark.parametrize("case", CASES)
def test_an_openzeppelin_dump_loads_in_python_with_the_same_root_and_proofs(case: str) -> None:
    encoding, values = CASES[case]
    js = js_of(values, encoding)
    tree = StandardMerkleTree.load(js["dump"])
    assert tree.root == js["root"]
    assert [tree.get_proof(i) for i in range(len(values))] == js["proofs"]
    assert all(tree.verify(i, proof) for i, proof in enumerate(js["proofs"]))
    assert tree.dump() == js["dump"]
    assert list(tree.values) == values


def test_a_python_dump_round_trips_through_load() -> None:
    tree = StandardMerkleTree.of([[address(i), amount(i)] for i in range(50)], ADDRESS_AMOUNT)
    loaded = StandardMerkleTree.load(json.loads(tree.dumps()))
    assert loaded.root == tree.root
    assert loaded.dump() == tree.dump()
    assert loaded.get_proof(17) == tree.get_proof(17)


# ---------------------------------------------------------------------------------------
# Verification and multiproofs
# ---------------------------------------------------------------------------------------


def test_static_verify_agrees_with_openzeppelin_for_good_and_tampered_proofs() -> None:
    values = address_amount_values(20)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    proof = tree.get_proof(5)
    tampered = [("0x" + ("0" if proof[0][2] != "0" else "1") + proof[0][3:]), *proof[1:]]
    other_value = [values[5][0], str(int(values[5][1]) + 1)]
    checks = [(values[5], proof), (values[5], tampered), (other_value, proof), (values[6], proof)]
    answers = oracle(
        {
            "op": "batch",
            "requests": [
                {"op": "verify", "root": tree.root, "encoding": list(ADDRESS_AMOUNT), "value": v, "proof": p}
                for v, p in checks
            ],
        }
    )
    ours = [StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, v, p) for v, p in checks]
    assert ours == [answer["valid"] for answer in answers] == [True, False, False, False]
    assert tree.verify(5, [bytes.fromhex(node[2:]) for node in proof])
    assert not tree.verify(5, tampered)


def test_multiproofs_match_openzeppelin_and_verify_both_ways() -> None:
    values = address_amount_values(19)
    indices = [0, 3, 11, 18]
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    ours = tree.get_multi_proof(indices)
    js = oracle({"op": "multiProof", "values": values, "encoding": list(ADDRESS_AMOUNT), "indices": indices})
    assert js["valid"] is True
    assert ours.to_json() == js["multiProof"]
    assert tree.verify_multi(ours)
    assert StandardMerkleTree.verify_multi_proof(tree.root, ADDRESS_AMOUNT, ours)
    answer = oracle(
        {"op": "verifyMultiProof", "root": tree.root, "encoding": list(ADDRESS_AMOUNT), "multiProof": ours.to_json()}
    )
    assert answer["valid"] is True


def test_a_multiproof_by_value_equals_the_one_by_index() -> None:
    values = address_amount_values(9)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    assert tree.get_multi_proof([values[2], values[7]]) == tree.get_multi_proof([2, 7])


def test_a_multiproof_cannot_prove_the_same_leaf_twice() -> None:
    tree = StandardMerkleTree.of(address_amount_values(5), ADDRESS_AMOUNT)
    with pytest.raises(ValueError, match="duplicated index"):
        tree.get_multi_proof([1, 1])


# ---------------------------------------------------------------------------------------
# The forked helper gives the same trees
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3, 5, 64, 1_001, 20_000, 70_000])
@pytest.mark.parametrize("sort_leaves", [True, False])
def test_building_with_a_helper_process_gives_the_same_tree_as_building_alone(count: int, sort_leaves: bool) -> None:
    values = [[address(i % 997), amount(i % 13)] for i in range(count)]  # plenty of duplicates
    alone = StandardMerkleTree.of(values, ADDRESS_AMOUNT, sort_leaves=sort_leaves, parallel=False)
    shared = StandardMerkleTree.of(values, ADDRESS_AMOUNT, sort_leaves=sort_leaves, parallel=True)
    assert shared.dump() == alone.dump()


def test_a_tree_built_with_a_helper_process_matches_openzeppelin() -> None:
    values = address_amount_values(3_000)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT, parallel=True)
    js = js_of(values, ADDRESS_AMOUNT, proofs=False)
    assert tree.root == js["root"]
    assert tree.dump() == js["dump"]


def test_a_refused_fork_falls_back_to_building_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one stand-in in this suite: an OS that refuses fork() (a process limit), which a
    # root session cannot provoke for real. Nothing of ours is replaced.
    refused = []

    def refuse() -> int:
        refused.append(True)
        raise OSError("fork refused")

    values = address_amount_values(100)
    monkeypatch.setattr("recovery.merkle.os.fork", refuse)
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT, parallel=True)
    assert refused, "the build never tried to fork: the fallback was not exercised"
    assert tree.dump() == StandardMerkleTree.of(values, ADDRESS_AMOUNT, parallel=False).dump()


@pytest.mark.parametrize(
    ("count", "bad_index", "parallel"),
    [(40_000, 10, True), (40_000, 39_000, True), (70_000, 65_600, False)],
    ids=["in_our_half", "in_the_helpers_half", "in_a_later_batch"],
)
def test_a_bad_value_is_reported_by_index_wherever_it_was_hashed(count: int, bad_index: int, parallel: bool) -> None:
    values = [[address(i), amount(i)] for i in range(count)]
    values[bad_index] = [address(bad_index), -5]
    with pytest.raises(ValueError, match=rf"values\[{bad_index}\]\[1\] \(uint256\): -5 is negative"):
        StandardMerkleTree.of(values, ADDRESS_AMOUNT, parallel=parallel)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

GOOD_ADDRESS = address(1)


@pytest.mark.parametrize(
    ("encoding", "value", "message"),
    [
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, -1], r"values\[1\]\[1\] \(uint256\): -1 is negative"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, 2**256], r"overflows uint256"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, str(2**256)], r"overflows uint256"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, True], r"uint256.*not bool"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, "12.5"], r"decimal string"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, 1.0], r"not float"),
        (ADDRESS_AMOUNT, ["0x1234", 1], r"values\[1\]\[0\] \(address\): an address needs exactly 40 hex digits"),
        (ADDRESS_AMOUNT, ["0x" + "zz" * 20, 1], r"non-hex"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS[2:] + "ab", 1], r"0x-prefixed"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS[:-1] + " ", 1], r"non-hex"),
        (ADDRESS_AMOUNT, [b"\x01" * 19, 1], r"exactly 20 bytes"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS], r"values\[1\]: the leaf encoding .* has 2 types but the value has 1 items"),
        (ADDRESS_AMOUNT, [GOOD_ADDRESS, 1, 2], r"has 2 types but the value has 3 items"),
        (ADDRESS_AMOUNT, GOOD_ADDRESS, r"values\[1\]: a leaf value must be a list or tuple"),
        (ADDRESS_AMOUNT, 7, r"must be a list or tuple of 2 items, not int"),
        (("uint8",), [256], r"overflows uint8"),
        (("int8",), [-129], r"out of range for int8"),
        (("bytes32",), ["0x1234"], r"bytes32 needs exactly 32 bytes, got 2"),
        (("bytes32",), ["0x" + "1" * 63], r"odd number of digits"),
        (("bool",), [1], r"expected a bool"),
        (("string",), [b"text"], r"expected a str"),
        (("address[]",), [GOOD_ADDRESS], r"expected a list for address\[\]"),
        (("address[2]",), [[GOOD_ADDRESS]], r"needs exactly 2 elements"),
        (("uint256[]",), [[1, -2]], r"element \[1\]: -2 is negative"),
    ],
)
def test_bad_values_are_rejected_with_a_message_naming_the_value_and_the_reason(
    encoding: tuple[str, ...], value: Any, message: str
) -> None:
    good = leaf_example(encoding)
    with pytest.raises(ValueError, match=message):
        StandardMerkleTree.of([good, value, good], encoding)


def leaf_example(encoding: tuple[str, ...]) -> list[Any]:
    examples = {
        "address": GOOD_ADDRESS,
        "uint256": 1,
        "uint8": 1,
        "int8": -1,
        "bytes32": "0x" + "11" * 32,
        "bool": True,
        "string": "x",
        "address[]": [GOOD_ADDRESS],
        "address[2]": [GOOD_ADDRESS, GOOD_ADDRESS],
        "uint256[]": [1],
    }
    return [examples[t] for t in encoding]


@pytest.mark.parametrize(
    ("encoding", "value"),
    [
        (("address",), ["0x1234"]),  # the JS left-pads it to 20 bytes
        (("bytes32",), ["0x12"]),  # the JS right-pads it to 32 bytes
        (("uint256",), [" 12 "]),  # the JS trims the spaces
        (("uint256",), [""]),  # the JS reads it as 0
        (("bytes",), ["0x123"]),  # the JS reads it as 0x0123
    ],
)
def test_values_the_js_library_silently_pads_or_trims_are_rejected_here(encoding: tuple[str, ...], value: Any) -> None:
    assert "hash" in oracle({"op": "leafHash", "encoding": list(encoding), "value": value})
    with pytest.raises(ValueError, match=r"value\[0\]"):
        leaf_hash(encoding, value)


def test_the_module_leaf_hash_rejects_bad_values_too() -> None:
    with pytest.raises(MerkleTreeError, match=r"value\[1\] \(uint256\): -3 is negative"):
        leaf_hash(ADDRESS_AMOUNT, [GOOD_ADDRESS, -3])


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        (["uint7"], r"invalid ABI type 'uint7'"),
        (["fixed128x18"], r"unsupported type 'fixed'"),
        (["function"], r"unsupported type 'function'|invalid ABI type"),
        ("address", r"leaf_encoding must be a list"),
        ([7], r"ABI type strings"),
    ],
)
def test_bad_leaf_encodings_are_rejected(encoding: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StandardMerkleTree.of([[1]], encoding)


def test_an_empty_value_list_is_rejected_like_openzeppelin() -> None:
    with pytest.raises(ValueError, match="non-zero number of leaves"):
        StandardMerkleTree.of([], ADDRESS_AMOUNT)
    assert "non-zero number of leaves" in oracle({"op": "of", "values": [], "encoding": ["uint256"]})["error"]


def test_proof_requests_for_unknown_values_or_indices_are_rejected() -> None:
    tree = StandardMerkleTree.of(address_amount_values(4), ADDRESS_AMOUNT)
    with pytest.raises(ValueError, match="Leaf is not in tree"):
        tree.get_proof([address(99), "1"])
    with pytest.raises(ValueError, match="Index out of bounds"):
        tree.get_proof(4)
    with pytest.raises(ValueError, match="proof\\[0\\] must be 32 bytes"):
        tree.verify(0, ["0x1234"])


def _dump() -> dict[str, Any]:
    return StandardMerkleTree.of(address_amount_values(5), ADDRESS_AMOUNT).dump()


def _mutated(change: Any) -> dict[str, Any]:
    dump = copy.deepcopy(_dump())
    change(dump)
    return dump


def _flip(node: str) -> str:
    return node[:-1] + ("0" if node[-1] != "0" else "1")


# mutation, Python's message, and whether the JS library rejects the dump too (where it
# does not, the check is one recovery.merkle adds).
MALFORMED_DUMPS = [
    pytest.param(lambda d: d.update(format="standard-v2"), r"Unknown format 'standard-v2'", True, id="wrong_format"),
    pytest.param(lambda d: d.pop("format"), r"Unknown format None", True, id="missing_format"),
    pytest.param(lambda d: d.pop("leafEncoding"), r"'leafEncoding' must be a list", True, id="missing_encoding"),
    pytest.param(
        lambda d: d["tree"].__setitem__(-1, _flip(d["tree"][-1])),
        r"does not contain the expected value",
        True,
        id="tampered_leaf",
    ),
    pytest.param(
        lambda d: d["tree"].__setitem__(0, _flip(d["tree"][0])),
        r"tree\[0\] is not the hash of its two children",
        True,
        id="tampered_root",
    ),
    pytest.param(
        lambda d: d["tree"].__setitem__(1, _flip(d["tree"][1])),
        r"tree\[1\] is not the hash",
        True,
        id="tampered_inner_node",
    ),
    pytest.param(
        lambda d: d["values"][2]["value"].__setitem__(1, "1"), r"not the hash of values\[2\]", True, id="tampered_value"
    ),
    pytest.param(
        lambda d: d["values"][0].update(treeIndex=1),
        r"must be a leaf slot in 4\.\.8, got 1",
        True,
        id="tree_index_on_inner_node",
    ),
    pytest.param(lambda d: d["values"][0].update(treeIndex="5"), r"must be a leaf slot", True, id="tree_index_not_int"),
    pytest.param(
        lambda d: d["values"][1].update(treeIndex=d["values"][0]["treeIndex"]),
        r"used by another value",
        True,
        id="shared_tree_index",
    ),
    pytest.param(lambda d: d["values"].pop(), r"4 values for a tree with 5 leaf slots", False, id="missing_value"),
    pytest.param(lambda d: d["tree"].pop(), r"has 8 nodes; a tree of n leaves has 2n - 1", True, id="even_node_count"),
    pytest.param(
        lambda d: d["tree"].__setitem__(3, "0x" + d["tree"][3][2:].upper()),
        r"tree\[3\] is not lowercase hex",
        False,
        id="uppercase_hex",
    ),
    pytest.param(
        lambda d: d["tree"].__setitem__(2, d["tree"][2][:-2]),
        r"tree\[2\] is not a 0x-prefixed 32-byte",
        True,
        id="short_node",
    ),
    pytest.param(
        lambda d: d["values"][0].update(value="0x00"),
        r"values\[0\]: a leaf value must be a list",
        True,
        id="value_not_a_list",
    ),
    pytest.param(
        lambda d: d["values"][0].pop("treeIndex"),
        r"must be an object with 'value' and 'treeIndex'",
        True,
        id="entry_without_tree_index",
    ),
]


@pytest.mark.parametrize(("mutation", "message", "js_rejects"), MALFORMED_DUMPS)
def test_malformed_dumps_are_rejected_with_a_clear_message(mutation: Any, message: str, js_rejects: bool) -> None:
    dump = _mutated(mutation)
    with pytest.raises(ValueError, match=message):
        StandardMerkleTree.load(dump)
    if js_rejects:
        assert "error" in oracle({"op": "load", "dump": dump})


def test_validate_notices_a_value_changed_after_building() -> None:
    values = [[address(i), amount(i)] for i in range(6)]
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    tree.validate()
    values[4][1] += 1  # the tree keeps the caller's value objects, as the JS does
    with pytest.raises(ValueError, match=r"not the hash of values\[4\]"):
        tree.validate()
    with pytest.raises(ValueError, match="does not contain the expected value"):
        tree.get_proof(4)


def test_a_dump_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        StandardMerkleTree.load([_dump()])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Properties (pure Python)
# ---------------------------------------------------------------------------------------

address_amount = st.tuples(
    st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex()), st.integers(0, UINT256_MAX)
).map(list)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(address_amount, min_size=1, max_size=40), data=st.data())
def test_every_proof_verifies_and_a_tampered_proof_or_value_does_not(
    values: list[list[Any]], data: st.DataObject
) -> None:
    tree = StandardMerkleTree.of(values, ADDRESS_AMOUNT)
    for position, value in enumerate(values):
        proof = tree.get_proof(position)
        assert tree.verify(position, proof)
        assert StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, value, proof)

    position = data.draw(st.integers(0, len(values) - 1), label="position")
    value, proof = values[position], tree.get_proof(position)
    changed = [value[0], (value[1] + 1) % (UINT256_MAX + 1)]
    assert not StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, changed, proof)
    if proof:
        step = data.draw(st.integers(0, len(proof) - 1), label="step")
        tampered = [*proof[:step], _flip(proof[step]), *proof[step + 1 :]]
        assert not StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, value, tampered)
        assert not StandardMerkleTree.verify_proof(tree.root, ADDRESS_AMOUNT, value, proof[:-1])


STATIC_ENCODING = ("address", "uint256", "int128", "bool", "bytes32", "bytes3", "uint32")
static_value = st.tuples(
    st.binary(min_size=20, max_size=20),
    st.integers(0, UINT256_MAX),
    st.integers(-(2**127), 2**127 - 1),
    st.booleans(),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=3, max_size=3),
    st.integers(0, 2**32 - 1),
)


def _as_text(value: tuple[Any, ...]) -> list[Any]:
    """The same value as the strings a JSON file would hold."""
    addr, u256, i128, flag, b32, b3, u32 = value
    return ["0x" + addr.hex(), str(u256), str(i128), flag, "0x" + b32.hex(), "0x" + b3.hex(), hex(u32)]


@settings(max_examples=60, deadline=None, database=None)
@given(values=st.lists(static_value, min_size=1, max_size=30))
def test_hand_encoded_static_leaves_equal_eth_abi_encoding(values: list[tuple[Any, ...]]) -> None:
    expected = [keccak(keccak(eth_abi.encode(list(STATIC_ENCODING), list(v)))) for v in values]
    assert [leaf_hash(STATIC_ENCODING, v) for v in values] == expected
    for tree in (
        StandardMerkleTree.of(values, STATIC_ENCODING),
        StandardMerkleTree.of([_as_text(v) for v in values], STATIC_ENCODING),
    ):
        assert [tree.node(tree.tree_index(i)) for i in range(len(values))] == ["0x" + h.hex() for h in expected]


@settings(max_examples=40, deadline=None, database=None)
@given(values=st.lists(address_amount, min_size=1, max_size=30), mixed=st.data())
def test_mixing_ints_and_strings_in_a_column_does_not_change_the_tree(
    values: list[list[Any]], mixed: st.DataObject
) -> None:
    as_strings = [[a, str(v)] for a, v in values]
    flags = mixed.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    mixed_values = [[a, str(v) if flag else v] for (a, v), flag in zip(values, flags, strict=True)]
    root = StandardMerkleTree.of(values, ADDRESS_AMOUNT).root
    assert StandardMerkleTree.of(as_strings, ADDRESS_AMOUNT).root == root
    assert StandardMerkleTree.of(mixed_values, ADDRESS_AMOUNT).root == root
