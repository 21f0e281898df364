"""Parameter changes: the contract calls a recovery plan asks governance to make.

A committee member enters a call as a target address, a function signature such as
``setAnswer(int256)``, its arguments as JSON values, and the wei to send. :func:`encode_call`
checks every part and ABI-encodes it, so a typo is refused here rather than voted on;
:func:`decode_call` turns calldata back into a signature and arguments for voters to read.

Pure computation over eth_abi: no chain, no Django. Arguments travel in one normalised form,
shared by :class:`EncodedCall` and :class:`DecodedCall` so a round trip compares equal:

====================  =========================================================
ABI type              normalised value
====================  =========================================================
``uint<M>/int<M>``    ``int`` (JSON: an int or a decimal string; never a float)
``address``           EIP-55 checksummed ``str``
``bool``              ``bool`` (JSON ``true``/``false`` only; not 0/1, not strings)
``bytes<N>/bytes``    ``"0x"``-prefixed lowercase hex ``str`` (exactly N bytes)
``string``            ``str``
arrays, tuples        ``tuple`` of the above (JSON: arrays)
====================  =========================================================

``as_json()`` renders ints as decimal strings, since uint256 values exceed 2**53.
Fixed-point types and ``function`` are refused: Solidity does not use the former for
parameters and nothing in a recovery needs the latter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import eth_abi
from eth_abi.exceptions import ABITypeError, DecodingError, EncodingError, ParseError
from eth_abi.grammar import ABIType, BasicType, TupleType, normalize
from eth_abi.grammar import parse as parse_abi_type
from eth_utils import keccak

from recovery.diff import checksum_account

__all__ = [
    "DecodedCall",
    "EncodedCall",
    "ParameterError",
    "canonical_signature",
    "decode_call",
    "encode_call",
    "function_selector",
    "function_signatures",
]

_SUPPORTED_BASES: Final = frozenset({"uint", "int", "address", "bool", "bytes", "string"})
# Accepted as written and normalised away: byte -> bytes1.
_ALIASES: Final = frozenset({"byte"})
_NAME: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SIGNATURE: Final = re.compile(r"(?P<name>[^()]*)\((?P<types>.*)\)")
_AROUND_PUNCTUATION: Final = re.compile(r"\s*([(),\[\]])\s*")
_DECIMAL: Final = re.compile(r"-?[0-9]+")
_HEX: Final = re.compile(r"0[xX]((?:[0-9a-fA-F]{2})*)")


class ParameterError(ValueError):
    """A parameter change that cannot be encoded or decoded; the message says which part and why."""

    code = "parameter_invalid"


@dataclass(frozen=True, slots=True)
class EncodedCall:
    """One contract call, checked and encoded: what a governor proposal's target/value/calldata carry."""

    target: str
    value: int
    calldata: str
    signature: str
    args: tuple[Any, ...]

    @property
    def selector(self) -> str:
        return self.calldata[:10]

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "value": str(self.value),
            "calldata": self.calldata,
            "signature": self.signature,
            "args": _json_value(self.args),
        }


@dataclass(frozen=True, slots=True)
class DecodedCall:
    signature: str
    args: tuple[Any, ...]

    def as_json(self) -> dict[str, Any]:
        return {"signature": self.signature, "args": _json_value(self.args)}


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value


def _parse_signature(signature: object) -> tuple[str, tuple[ABIType, ...]]:
    if not isinstance(signature, str):
        raise ParameterError(f"signature must be a string like 'transfer(address,uint256)', not {signature!r}")
    tight = _AROUND_PUNCTUATION.sub(r"\1", signature.strip())
    match = _SIGNATURE.fullmatch(tight)
    if match is None:
        raise ParameterError(f"signature {signature!r} must look like name(type,type,...)")
    name, inner = match["name"], match["types"]
    if not _NAME.fullmatch(name):
        raise ParameterError(f"signature {signature!r}: {name!r} is not a function name")
    types = [] if inner == "" else _split_top_level(inner, signature=signature)
    return name, tuple(_parse_type(text, position=position) for position, text in enumerate(types))


def _split_top_level(inner: str, *, signature: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ParameterError(f"signature {signature!r} has an unmatched ')'")
        elif char == "," and depth == 0:
            parts.append(inner[start:position])
            start = position + 1
    if depth != 0:
        raise ParameterError(f"signature {signature!r} has an unmatched '('")
    parts.append(inner[start:])
    return parts


def _parse_type(text: str, *, position: int) -> ABIType:
    where = f"parameter {position}"
    if text == "":
        raise ParameterError(f"{where}: empty type (a stray comma?)")
    if any(char.isspace() for char in text):
        raise ParameterError(
            f"{where}: {text!r} is not an ABI type; a signature lists types only, "
            "without parameter names, 'memory', 'calldata' or 'payable'"
        )
    try:
        written = parse_abi_type(text)
        # normalize: uint -> uint256, int -> int256 (and byte -> bytes1), as the selector needs.
        abi_type = parse_abi_type(normalize(text))
        abi_type.validate()
    except (ParseError, ABITypeError, ValueError) as error:  # ValueError: eth_abi's answer to "()"
        raise ParameterError(f"{where}: {text!r} is not a valid ABI type ({error})") from error
    # Check the bases as written: normalize turns "function" into "bytes24".
    _check_supported(written, where=where, text=text)
    return abi_type


def _check_supported(abi_type: ABIType, *, where: str, text: str) -> None:
    if isinstance(abi_type, TupleType):
        for component in abi_type.components:
            _check_supported(component, where=where, text=text)
    elif isinstance(abi_type, BasicType) and abi_type.base not in _SUPPORTED_BASES | _ALIASES:
        raise ParameterError(
            f"{where}: {text!r} uses {abi_type.base!r}, which is not supported "
            f"(expected {', '.join(sorted(_SUPPORTED_BASES))}, arrays and tuples of them)"
        )


def canonical_signature(signature: str) -> str:
    """``signature`` in the canonical form its selector hashes: no spaces, ``uint`` as ``uint256``."""
    name, types = _parse_signature(signature)
    return f"{name}({','.join(abi_type.to_type_str() for abi_type in types)})"


def function_selector(signature: str) -> str:
    """The 4-byte selector of ``signature`` (canonicalised first), as ``0x`` + 8 hex digits."""
    return "0x" + keccak(text=canonical_signature(signature))[:4].hex()


def encode_call(*, target: str, signature: str, args: Sequence[Any], value: int | str = 0) -> EncodedCall:
    """Check and ABI-encode one call.

    Preconditions: ``target`` an address (mixed case must be a correct EIP-55 checksum);
    ``signature`` ``name(type,...)`` with types only; ``args`` one JSON value per type (see the
    module docstring); ``value`` wei as an int or decimal string, within uint256. Raises
    :class:`ParameterError` naming the part, argument index and type at fault.
    """
    checked_target = checksum_account(target, label="target:", error=ParameterError)
    wei = _integer(value, bits=256, signed=False, where="value (wei)")
    name, types = _parse_signature(signature)
    canonical = f"{name}({','.join(abi_type.to_type_str() for abi_type in types)})"
    if isinstance(args, str | bytes | Mapping) or not isinstance(args, Sequence):
        raise ParameterError(f"args must be a list with one value per parameter of {canonical}")
    if len(args) != len(types):
        raise ParameterError(f"{canonical} takes {len(types)} argument(s), got {len(args)}")
    normalised = tuple(
        _coerce(abi_type, arg, where=f"argument {position}")
        for position, (abi_type, arg) in enumerate(zip(types, args, strict=True))
    )
    type_strings = [abi_type.to_type_str() for abi_type in types]
    try:
        encoded = eth_abi.encode(type_strings, [_to_abi(t, v) for t, v in zip(types, normalised, strict=True)])
    except EncodingError as error:  # pragma: no cover - _coerce checks everything eth_abi does
        raise ParameterError(f"{canonical}: the arguments do not encode ({error})") from error
    calldata = "0x" + (keccak(text=canonical)[:4] + encoded).hex()
    return EncodedCall(target=checked_target, value=wei, calldata=calldata, signature=canonical, args=normalised)


def _coerce(abi_type: ABIType, value: Any, *, where: str) -> Any:
    """``value`` checked against ``abi_type`` and put in normalised form."""
    label = f"{where} ({abi_type.to_type_str()})"
    if abi_type.is_array:
        items = _items(value, label=label)
        (length,) = abi_type.arrlist[-1] or (None,)
        if length is not None and len(items) != length:
            raise ParameterError(f"{label}: expected {length} items, got {len(items)}")
        return tuple(_coerce(abi_type.item_type, item, where=f"{where}[{i}]") for i, item in enumerate(items))
    if isinstance(abi_type, TupleType):
        items = _items(value, label=label)
        if len(items) != len(abi_type.components):
            raise ParameterError(f"{label}: expected {len(abi_type.components)} components, got {len(items)}")
        return tuple(
            _coerce(component, item, where=f"{where}[{i}]")
            for i, (component, item) in enumerate(zip(abi_type.components, items, strict=True))
        )
    assert isinstance(abi_type, BasicType)
    base, sub = abi_type.base, abi_type.sub
    if base in ("uint", "int"):
        assert isinstance(sub, int)
        return _integer(value, bits=sub, signed=base == "int", where=label)
    if base == "address":
        return checksum_account(value, label=f"{label}:", error=ParameterError)
    if base == "bool":
        if not isinstance(value, bool):
            raise ParameterError(f"{label}: expected true or false, got {value!r}")
        return value
    if base == "bytes":
        assert sub is None or isinstance(sub, int)
        return _bytes_hex(value, length=sub, label=label)
    if not isinstance(value, str):
        raise ParameterError(f"{label}: expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ParameterError(f"{label}: the string is not valid UTF-8 text ({error.reason})") from error
    return value


def _items(value: Any, *, label: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise ParameterError(f"{label}: expected an array, got {type(value).__name__}")
    return value


def _integer(value: Any, *, bits: int, signed: bool, where: str) -> int:
    if isinstance(value, bool):
        raise ParameterError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, float):
        raise ParameterError(f"{where}: {value!r} is a float; give integers as ints or decimal strings")
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ParameterError(f"{where}: {value!r} is not a decimal integer (digits only, optional leading '-')")
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raise ParameterError(f"{where}: expected an integer, got {type(value).__name__}")
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if not low <= number <= high:
        kind = f"int{bits}" if signed else f"uint{bits}"
        raise ParameterError(f"{where}: {number} is out of range for {kind} ({low}..{high})")
    return number


def _bytes_hex(value: Any, *, length: int | None, label: str) -> str:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif isinstance(value, str):
        match = _HEX.fullmatch(value)
        if match is None:
            raise ParameterError(f"{label}: {value!r} is not 0x-prefixed hex with an even number of digits")
        raw = bytes.fromhex(match[1])
    else:
        raise ParameterError(f"{label}: expected 0x-prefixed hex, got {type(value).__name__}")
    if length is not None and len(raw) != length:
        # No silent padding: a bytes32 given 31 bytes is far likelier a paste error than intent.
        raise ParameterError(f"{label}: expected exactly {length} bytes, got {len(raw)}")
    return "0x" + raw.hex()


def _to_abi(abi_type: ABIType, value: Any) -> Any:
    """A normalised value as eth_abi encodes it: hex strings of bytes types become bytes."""
    if abi_type.is_array:
        return [_to_abi(abi_type.item_type, item) for item in value]
    if isinstance(abi_type, TupleType):
        return tuple(_to_abi(component, item) for component, item in zip(abi_type.components, value, strict=True))
    if isinstance(abi_type, BasicType) and abi_type.base == "bytes":
        return bytes.fromhex(value[2:])
    return value


def _from_abi(abi_type: ABIType, value: Any) -> Any:
    """An eth_abi decoded value in normalised form."""
    if abi_type.is_array:
        return tuple(_from_abi(abi_type.item_type, item) for item in value)
    if isinstance(abi_type, TupleType):
        return tuple(_from_abi(component, item) for component, item in zip(abi_type.components, value, strict=True))
    assert isinstance(abi_type, BasicType)
    if abi_type.base == "bytes":
        return "0x" + bytes(value).hex()
    if abi_type.base == "address":
        return checksum_account(value, label="decoded address", error=ParameterError)
    return value


def decode_call(
    *, calldata: str | bytes, abi: list[dict[str, Any]] | None = None, signature: str | None = None
) -> DecodedCall:
    """Decode ``calldata`` for display, given its ``signature`` or a contract ``abi`` to match its selector.

    Preconditions: exactly one of ``abi`` and ``signature``; ``calldata`` 0x-prefixed hex (or
    bytes) of at least the 4-byte selector. The calldata must be the canonical encoding of
    what it decodes to — trailing bytes or odd offsets are refused, so what voters read is
    exactly what would execute. Raises :class:`ParameterError`.
    """
    if (abi is None) == (signature is None):
        raise ParameterError("decode_call needs exactly one of abi and signature")
    if isinstance(calldata, bytes | bytearray):
        raw = bytes(calldata)
    elif isinstance(calldata, str) and (match := _HEX.fullmatch(calldata)):
        raw = bytes.fromhex(match[1])
    else:
        raise ParameterError("calldata must be 0x-prefixed hex with an even number of digits")
    if len(raw) < 4:
        raise ParameterError(f"calldata has {len(raw)} bytes, fewer than the 4-byte function selector")
    selector = "0x" + raw[:4].hex()
    if signature is not None:
        canonical = canonical_signature(signature)
        expected = "0x" + keccak(text=canonical)[:4].hex()
        if selector != expected:
            raise ParameterError(f"calldata starts with selector {selector}, not {expected} of {canonical}")
    else:
        assert abi is not None
        known = function_signatures(abi)
        if selector not in known:
            raise ParameterError(f"selector {selector} matches no function in the ABI ({len(known)} functions)")
        canonical = known[selector]
    _, types = _parse_signature(canonical)
    type_strings = [abi_type.to_type_str() for abi_type in types]
    try:
        values = eth_abi.decode(type_strings, raw[4:], strict=True)
    except (DecodingError, OverflowError) as error:
        raise ParameterError(f"calldata does not decode as {canonical}: {error}") from error
    if eth_abi.encode(type_strings, values) != raw[4:]:
        raise ParameterError(
            f"calldata decodes as {canonical} but is not its canonical encoding (trailing or rearranged bytes)"
        )
    args = tuple(_from_abi(abi_type, value) for abi_type, value in zip(types, values, strict=True))
    return DecodedCall(signature=canonical, args=args)


def function_signatures(abi: list[dict[str, Any]]) -> dict[str, str]:
    """Each function of ``abi`` as ``{"0x" + selector hex: canonical signature}``, in ABI order.

    Entries other than functions (events, errors, constructor, fallback, receive) are skipped;
    an entry without ``type`` is a function, as the ABI specification says. Tuple parameters
    are expanded from their ``components``. Two different signatures with one selector (a
    crafted collision) raise :class:`ParameterError`, since a call could not be shown truthfully.
    """
    if isinstance(abi, Mapping) and "abi" in abi:
        raise ParameterError("pass the artifact's 'abi' list, not the whole artifact")
    if not isinstance(abi, list):
        raise ParameterError(f"an ABI is a list of entries, not {type(abi).__name__}")
    signatures: dict[str, str] = {}
    for position, entry in enumerate(abi):
        if not isinstance(entry, Mapping):
            raise ParameterError(f"ABI entry {position} is not an object")
        if entry.get("type", "function") != "function":
            continue
        name = entry.get("name")
        inputs = entry.get("inputs", [])
        if not isinstance(name, str) or not isinstance(inputs, list):
            raise ParameterError(f"ABI entry {position} is a function without a name or inputs list")
        types = ",".join(_abi_input_type(parameter, where=f"ABI entry {position} ({name})") for parameter in inputs)
        signature = canonical_signature(f"{name}({types})")
        selector = "0x" + keccak(text=signature)[:4].hex()
        if signatures.get(selector, signature) != signature:
            raise ParameterError(f"{signatures[selector]} and {signature} share selector {selector}")
        signatures[selector] = signature
    return signatures


def _abi_input_type(parameter: Any, *, where: str) -> str:
    if not isinstance(parameter, Mapping) or not isinstance(parameter.get("type"), str):
        raise ParameterError(f"{where}: a parameter without a type")
    type_text: str = parameter["type"]
    if not type_text.startswith("tuple"):
        return type_text
    components = parameter.get("components")
    if not isinstance(components, list):
        raise ParameterError(f"{where}: a tuple parameter without components")
    inner = ",".join(_abi_input_type(component, where=where) for component in components)
    # The suffix carries the array dimensions: "tuple[2][]" -> "(..)[2][]".
    return f"({inner}){type_text[len('tuple') :]}"
