"""Parameter changes: checked encoding and decoding of contract calls. Pure: no database, no chain."""

import json
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_abi.grammar import ABIType, BasicType, TupleType
from eth_abi.grammar import parse as parse_abi_type
from eth_utils import abi_to_signature, function_abi_to_4byte_selector, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from recovery.parameters import (
    DecodedCall,
    ParameterError,
    canonical_signature,
    decode_call,
    encode_call,
    function_selector,
    function_signatures,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"
TARGET = "0xa2A2a2A2A2A2A2a2a2a2a2A2A2A2A2a2A2A2a2a2"
WRONG_CHECKSUM = TARGET[:2] + TARGET[2:].swapcase()
HOLDER = to_checksum_address("0x" + "12" * 20)

TRANSFER_ABI = [
    {
        "type": "function",
        "name": "transfer",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]


def _function(name: str, *inputs: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "nonpayable", "inputs": list(inputs), "outputs": []}


# --- known vectors against an independent encoder ------------------------------------------


def test_transfer_calldata_matches_web3s_encoding() -> None:
    expected = Web3().eth.contract(abi=TRANSFER_ABI).encode_abi("transfer", args=[HOLDER, 10**18])

    call = encode_call(
        target=TARGET, signature="transfer(address,uint256)", args=[HOLDER.lower(), "1000000000000000000"]
    )

    assert call.calldata == expected
    assert call.selector == "0xa9059cbb" == function_selector("transfer(address,uint256)")
    assert call.args == (HOLDER, 10**18)


def test_approve_plan_calldata_matches_web3s_encoding_from_the_executor_artifact() -> None:
    abi = json.loads((ARTIFACTS / "RecoveryExecutor.json").read_text())["abi"]
    key, root = "0x" + "cd" * 32, "0x" + "ab" * 32
    args = [7, key, 3, root, HOLDER, 0, 2, 4_000_000_000, 2**256 - 1, 2**64 - 1]
    native = [7, bytes.fromhex(key[2:]), 3, bytes.fromhex(root[2:]), *args[4:]]
    expected = Web3().eth.contract(abi=abi).encode_abi("approvePlan", args=native)

    call = encode_call(
        target=TARGET,
        signature="approvePlan(uint,bytes32,uint64,bytes32,address,uint8,uint8,uint32,uint,uint64)",
        args=[str(a) for a in args],
    )

    assert call.calldata == expected
    assert call.signature == "approvePlan(uint256,bytes32,uint64,bytes32,address,uint8,uint8,uint32,uint256,uint64)"
    assert decode_call(calldata=call.calldata, abi=abi) == DecodedCall(call.signature, call.args)


def test_tuples_and_nested_arrays_match_web3s_encoding() -> None:
    abi = [
        _function(
            "configure",
            {
                "name": "items",
                "type": "tuple[2][]",
                "components": [{"name": "who", "type": "address"}, {"name": "tags", "type": "bytes4[]"}],
            },
            {"name": "flag", "type": "bool"},
            {"name": "note", "type": "string"},
        )
    ]
    items = [[[HOLDER, ["0x01020304"]], [TARGET, []]]]
    web3_items = [[(HOLDER, [bytes.fromhex("01020304")]), (TARGET, [])]]
    expected = Web3().eth.contract(abi=abi).encode_abi("configure", args=[web3_items, True, "héllo"])

    call = encode_call(
        target=TARGET, signature="configure((address, bytes4[])[2][], bool, string)", args=[items, True, "héllo"]
    )

    assert call.calldata == expected
    assert call.args == ((((HOLDER, ("0x01020304",)), (TARGET, ())),), True, "héllo")
    assert decode_call(calldata=call.calldata, abi=abi).args == call.args


def test_negative_ints_round_trip() -> None:
    call = encode_call(target=TARGET, signature="setAnswer(int)", args=["-250000000000"])

    assert call.signature == "setAnswer(int256)"
    assert decode_call(calldata=call.calldata, signature="setAnswer(int256)").args == (-250_000_000_000,)


def test_a_call_without_arguments_is_just_its_selector() -> None:
    call = encode_call(target=TARGET, signature="pause()", args=[], value="5")

    assert (call.calldata, call.value) == (function_selector("pause()"), 5)


def test_as_json_renders_ints_as_decimal_strings() -> None:
    call = encode_call(
        target=TARGET, signature="f(uint256[],bool,address)", args=[[1, 2**255], False, HOLDER], value=10**30
    )

    rendered = call.as_json()

    assert rendered["value"] == str(10**30)
    assert rendered["args"] == [["1", str(2**255)], False, HOLDER]
    assert json.loads(json.dumps(rendered)) == rendered


# --- round trips ---------------------------------------------------------------------------

_INT_BITS = (8, 16, 24, 32, 64, 128, 160, 256)
_LEAF_TYPES = (
    *(f"uint{bits}" for bits in _INT_BITS),
    *(f"int{bits}" for bits in _INT_BITS),
    *(f"bytes{size}" for size in (1, 4, 20, 31, 32)),
    "address",
    "bool",
    "bytes",
    "string",
)

abi_type_strings = st.recursive(
    st.sampled_from(_LEAF_TYPES),
    lambda inner: st.one_of(
        inner.map(lambda t: f"{t}[]"),
        st.tuples(inner, st.integers(1, 2)).map(lambda pair: f"{pair[0]}[{pair[1]}]"),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: f"({','.join(parts)})"),
    ),
    max_leaves=3,
)


def _values(abi_type: ABIType) -> st.SearchStrategy[tuple[Any, Any]]:
    """(JSON input, expected normalised value) pairs for ``abi_type``."""
    if abi_type.is_array:
        (length,) = abi_type.arrlist[-1] or (None,)
        sizes = {"min_size": length, "max_size": length} if length else {"max_size": 2}
        items = st.lists(_values(abi_type.item_type), **sizes)
        return items.map(lambda pairs: ([given for given, _ in pairs], tuple(expected for _, expected in pairs)))
    if isinstance(abi_type, TupleType):
        parts = st.tuples(*(_values(component) for component in abi_type.components))
        return parts.map(lambda pairs: ([given for given, _ in pairs], tuple(expected for _, expected in pairs)))
    assert isinstance(abi_type, BasicType)
    base, sub = abi_type.base, abi_type.sub
    if base in ("uint", "int"):
        low, high = (-(2 ** (sub - 1)), 2 ** (sub - 1) - 1) if base == "int" else (0, 2**sub - 1)
        return st.integers(low, high).flatmap(lambda n: st.sampled_from([(n, n), (str(n), n)]))
    if base == "address":
        return st.binary(min_size=20, max_size=20).map(
            lambda raw: ("0x" + raw.hex(), to_checksum_address(raw))
        ) | st.binary(min_size=20, max_size=20).map(lambda raw: (to_checksum_address(raw), to_checksum_address(raw)))
    if base == "bool":
        return st.booleans().map(lambda flag: (flag, flag))
    if base == "bytes":
        raw = st.binary(min_size=sub, max_size=sub) if sub else st.binary(max_size=40)
        return raw.map(lambda data: ("0x" + data.hex().upper(), "0x" + data.hex()))
    return st.text(max_size=20).map(lambda text: (text, text))


@given(data=st.data(), types=st.lists(abi_type_strings, max_size=3))
def test_encoding_then_decoding_gives_back_the_normalised_arguments(data: st.DataObject, types: list[str]) -> None:
    pairs = [data.draw(_values(parse_abi_type(type_text))) for type_text in types]
    signature = f"f({','.join(types)})"

    call = encode_call(target=TARGET, signature=signature, args=[given for given, _ in pairs])
    decoded = decode_call(calldata=call.calldata, signature=signature)

    assert call.args == decoded.args == tuple(expected for _, expected in pairs)
    assert decoded.signature == call.signature == canonical_signature(signature)
    # An independent decoder reads the same words.
    assert len(eth_abi.decode(types, bytes.fromhex(call.calldata[10:]))) == len(types)


@given(data=st.data(), types=st.lists(st.sampled_from(_LEAF_TYPES), min_size=1, max_size=5))
def test_flat_calls_match_web3s_encoding(data: st.DataObject, types: list[str]) -> None:
    pairs = [data.draw(_values(parse_abi_type(type_text))) for type_text in types]
    abi = [_function("f", *({"name": f"p{n}", "type": t} for n, t in enumerate(types)))]
    as_web3 = [bytes.fromhex(v[2:]) if t.startswith("bytes") else v for t, (_, v) in zip(types, pairs, strict=True)]

    call = encode_call(target=TARGET, signature=f"f({','.join(types)})", args=[given for given, _ in pairs])

    assert call.calldata == Web3().eth.contract(abi=abi).encode_abi("f", args=as_web3)


# --- function signatures from an ABI -------------------------------------------------------


@pytest.mark.parametrize("artifact", ["RecoveryExecutor", "LifeboatGovernor", "DemoPriceFeed", "DemoVault"])
def test_function_signatures_agree_with_eth_utils_on_every_artifact(artifact: str) -> None:
    abi = json.loads((ARTIFACTS / f"{artifact}.json").read_text())["abi"]
    expected = {
        "0x" + function_abi_to_4byte_selector(entry).hex(): abi_to_signature(entry)
        for entry in abi
        if entry.get("type") == "function"
    }

    assert function_signatures(abi) == expected


def test_function_signatures_expand_tuple_components() -> None:
    entry = _function(
        "submit",
        {
            "name": "orders",
            "type": "tuple[]",
            "components": [{"type": "uint256"}, {"type": "tuple", "components": [{"type": "bool"}]}],
        },
    )

    assert function_signatures([entry]) == {"0x" + function_abi_to_4byte_selector(entry).hex(): abi_to_signature(entry)}
    assert abi_to_signature(entry) == "submit((uint256,(bool))[])"


def test_an_unknown_selector_is_refused() -> None:
    call = encode_call(target=TARGET, signature="mint(address,uint256)", args=[HOLDER, 1])

    with pytest.raises(ParameterError, match=f"selector {call.selector} matches no function"):
        decode_call(calldata=call.calldata, abi=TRANSFER_ABI)


def test_calldata_for_another_signature_is_refused() -> None:
    call = encode_call(target=TARGET, signature="transfer(address,uint256)", args=[HOLDER, 1])

    with pytest.raises(ParameterError, match="not 0x095ea7b3 of approve"):
        decode_call(calldata=call.calldata, signature="approve(address,uint256)")


@pytest.mark.parametrize(
    ("calldata", "message"),
    [
        ("0xa9059c", "fewer than the 4-byte"),
        ("a9059cbb", "0x-prefixed hex"),
        ("0xa9059cbbz0", "0x-prefixed hex"),
        ("0xa9059cbb" + "00" * 40, "does not decode"),
        ("0xa9059cbb" + "00" * 64 + "00", "not its canonical encoding"),
        ("0xa9059cbb" + "ff" * 32 + "00" * 32, "does not decode"),
    ],
)
def test_malformed_calldata_is_refused(calldata: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        decode_call(calldata=calldata, signature="transfer(address,uint256)")


def test_decode_needs_exactly_one_of_abi_and_signature() -> None:
    with pytest.raises(ParameterError, match="exactly one"):
        decode_call(calldata="0xa9059cbb")
    with pytest.raises(ParameterError, match="exactly one"):
        decode_call(calldata="0xa9059cbb", abi=TRANSFER_ABI, signature="transfer(address,uint256)")


@pytest.mark.parametrize(
    ("abi", "message"),
    [
        ({"abi": []}, "not the whole artifact"),
        ("[]", "list of entries"),
        ([1], "not an object"),
        ([{"type": "function", "inputs": []}], "without a name"),
        ([_function("f", {"name": "x"})], "without a type"),
        ([_function("f", {"type": "tuple"})], "without components"),
        ([_function("f", {"type": "uint7"})], "not a valid ABI type"),
    ],
)
def test_a_malformed_abi_is_refused(abi: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        function_signatures(abi)


# --- every bad input refused with a helpful message ----------------------------------------


@pytest.mark.parametrize(
    ("signature", "args", "message"),
    [
        # signatures
        ("transfer", [], r"must look like name\(type,type,...\)"),
        ("1transfer()", [], "is not a function name"),
        ("transfer(address to,uint256 amount)", [HOLDER, 1], "without parameter names"),
        ("f(uint256 memory)", [1], "without parameter names"),
        ("f(uint7)", [1], "parameter 0: 'uint7' is not a valid ABI type"),
        ("f(bytes33)", ["0x"], "parameter 0: 'bytes33' is not a valid ABI type"),
        ("f(uint256,,bool)", [1, 2, True], "parameter 1: empty type"),
        ("f(foo)", [1], "'foo', which is not supported"),
        ("f(fixed128x18)", ["1"], "'fixed', which is not supported"),
        ("f(function)", ["0x"], "'function', which is not supported"),
        ("f((uint256)", [[1]], "unmatched"),
        ("f(uint256))", [1], "unmatched"),
        (12, [], "signature must be a string"),
        # argument counts and shapes
        ("f(uint256,bool)", [1], "takes 2 argument"),
        ("f(uint256)", "1", "args must be a list"),
        ("f(uint256[2])", [[1]], r"argument 0 \(uint256\[2\]\): expected 2 items, got 1"),
        ("f(uint256[])", ["1,2"], r"argument 0 \(uint256\[\]\): expected an array"),
        ("f((uint256,bool))", [[1]], "expected 2 components, got 1"),
        ("f(uint8[])", [[1, 300]], r"argument 0\[1\] \(uint8\): 300 is out of range for uint8 \(0..255\)"),
        # integers
        ("f(uint256)", [-1], r"argument 0 \(uint256\): -1 is out of range"),
        ("f(uint256)", [2**256], "out of range for uint256"),
        ("f(int8)", [128], r"out of range for int8 \(-128..127\)"),
        ("f(int8)", ["-129"], "out of range for int8"),
        ("f(uint256)", [1.0], "is a float; give integers as ints or decimal strings"),
        ("f(uint256)", ["1e18"], "is not a decimal integer"),
        ("f(uint256)", ["0x10"], "is not a decimal integer"),
        ("f(uint256)", [" 1"], "is not a decimal integer"),
        ("f(uint256)", [True], "expected an integer, got a boolean"),
        ("f(uint256)", [None], "expected an integer, got NoneType"),
        # addresses
        ("f(address)", [WRONG_CHECKSUM], r"argument 0 \(address\):.*mixed-case checksum that does not match"),
        ("f(address)", ["0x1234"], "is not an address"),
        ("f(address)", [int(HOLDER, 16)], "is not an address"),
        # bytes
        ("f(bytes32)", ["0x" + "ab" * 31], r"argument 0 \(bytes32\): expected exactly 32 bytes, got 31"),
        ("f(bytes4)", ["0x" + "ab" * 5], "expected exactly 4 bytes, got 5"),
        ("f(bytes)", ["0xabc"], "even number of digits"),
        ("f(bytes)", ["abcd"], "0x-prefixed hex"),
        ("f(bytes)", [12], "expected 0x-prefixed hex, got int"),
        # bools and strings
        ("f(bool)", [1], r"argument 0 \(bool\): expected true or false, got 1"),
        ("f(bool)", ["true"], "expected true or false, got 'true'"),
        ("f(string)", [5], "expected a string, got int"),
        ("f(string)", ["\udc80"], "not valid UTF-8"),
    ],
)
def test_every_bad_input_is_refused_with_a_helpful_message(signature: Any, args: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        encode_call(target=TARGET, signature=signature, args=args)


@pytest.mark.parametrize(
    ("target", "value", "message"),
    [
        (WRONG_CHECKSUM, 0, "target:.*mixed-case checksum that does not match"),
        ("0xdead", 0, "target:.*is not an address"),
        (TARGET, -1, r"value \(wei\): -1 is out of range"),
        (TARGET, 2**256, "out of range for uint256"),
        (TARGET, 0.5, "is a float"),
    ],
)
def test_a_bad_target_or_value_is_refused(target: str, value: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        encode_call(target=target, signature="pause()", args=[], value=value)


def test_a_lowercase_target_is_checksummed() -> None:
    assert encode_call(target=TARGET.lower(), signature="pause()", args=[]).target == TARGET


def test_parameter_errors_are_value_errors() -> None:
    assert issubclass(ParameterError, ValueError)
