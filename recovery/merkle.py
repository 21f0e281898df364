"""OpenZeppelin-compatible ``StandardMerkleTree`` in pure Python.

This module reproduces what ``@openzeppelin/merkle-tree`` 1.0.8 computes, so that a root,
proof or ``"standard-v1"`` dump made here is interchangeable with one made by the JS
library and is accepted by OpenZeppelin's ``MerkleProof`` on chain:

* leaf hash: ``keccak256(keccak256(abi.encode(leafEncoding, value)))`` — the double hash
  keeps a 64-byte leaf preimage from ever being mistaken for an internal node;
* node hash: ``keccak256(min(a, b) ++ max(a, b))`` — sorted pairs, so proofs carry no
  left/right flags;
* layout: one flat array of ``2n - 1`` nodes, root at 0, children of ``i`` at ``2i + 1``
  and ``2i + 2``; the leaf hashes (sorted ascending unless ``sort_leaves=False``, ties kept
  in input order) fill the end of the array in *reverse* order, exactly as the JS does, so
  the same values give the same tree, the same proofs and the same dump.

It is pure computation (no Django) and built for size: a million ``(address, uint256)``
leaves must build within seconds. Hence keccak comes from ``safe-pysha3``, the common
32-byte ABI words are encoded by hand instead of through eth_abi, nodes live as raw bytes
in one ``bytearray``, and on Linux a big tree shares the work with one forked helper process.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import re
import signal
import sys
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import count, pairwise, repeat
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from operator import itemgetter
from struct import Struct, iter_unpack
from typing import Any, Final

import eth_abi
from eth_abi.exceptions import ABITypeError, EncodingError, ParseError
from eth_abi.grammar import ABIType, BasicType, TupleType
from eth_abi.grammar import parse as parse_abi_type

try:
    # safe-pysha3's C keccak costs well under half of eth-hash/pycryptodome per call,
    # which decides whether a million-leaf tree fits the time budget.
    from sha3 import keccak_256 as _Keccak
except ImportError:  # pragma: no cover - safe-pysha3 is a declared dependency
    from eth_hash.auto import keccak as _eth_hash_keccak

    class _Keccak:  # type: ignore[no-redef]
        """Just enough of the pysha3 object interface for the hot loops below."""

        __slots__ = ("_digest",)

        def __init__(self, data: bytes) -> None:
            self._digest = _eth_hash_keccak(data)

        def digest(self) -> bytes:
            return self._digest


__all__ = [
    "DUMP_FORMAT",
    "MerkleTreeError",
    "MultiProof",
    "StandardMerkleTree",
    "keccak256",
    "leaf_hash",
]

DUMP_FORMAT: Final = "standard-v1"

_NODE: Final = 32
_UINT256_LIMIT: Final = 1 << 256
# Below this many leaves forking a helper costs more than it saves.
_PARALLEL_MIN_LEAVES: Final = 1 << 15
# Values encoded per batch on the fast path.
_WORD_BATCH: Final = 1 << 16
# Tree levels smaller than this are hashed by the main process alone.
_PARALLEL_MIN_LEVEL: Final = 1 << 12
# With a helper, it merges and lays out the sort entries from this prefix up.
_HIGH_RANGE: Final = b"\x80"
# Sort entries carry the value's input index as a 4-byte big-endian suffix: sorting the
# entries as plain bytes then orders by hash and breaks ties by input order, which is the
# stable sort the JS relies on for duplicate values.
_INDEX_BYTES: Final = 4
_pack_index = Struct(">I").pack

_HEX_CHARS = re.compile(r"[0-9a-fA-F]*")
_LOWER_HEX = re.compile(r"[0-9a-f]*")
_DECIMAL = re.compile(r"-?[0-9]+")


class MerkleTreeError(ValueError):
    """Invalid input: a leaf value, a leaf encoding, a proof or a dump."""


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """Keccak-256 (Ethereum's, not NIST SHA3-256) of ``data``."""
    return _Keccak(data).digest()


# ---------------------------------------------------------------------------------------
# Values: parsing what the JS encoder (@metamask/abi-utils) accepts
# ---------------------------------------------------------------------------------------


class _BadValue(Exception):
    """A single ABI value is unusable; the codec adds where it sits before re-raising."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


def _hex_payload(value: str, what: str) -> str:
    """The digits after the ``0x`` of a hex string, as the JS library requires them."""
    if value[:2] not in ("0x", "0X"):
        raise _BadValue(f"expected a 0x-prefixed hex string for {what}")
    digits = value[2:]
    if not digits.isascii() or not _HEX_CHARS.fullmatch(digits):
        raise _BadValue(f"{what} contains non-hex characters")
    return digits


def _parse_address(value: Any) -> bytes:
    if isinstance(value, str):
        digits = _hex_payload(value, "an address")
        if len(digits) != 40:
            raise _BadValue(f"an address needs exactly 40 hex digits after 0x, got {len(digits)}")
        return bytes.fromhex(digits)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != 20:
            raise _BadValue(f"an address needs exactly 20 bytes, got {len(raw)}")
        return raw
    raise _BadValue(f"expected an address as a 0x-prefixed hex string or 20 bytes, not {type(value).__name__}")


def _parse_integer(value: Any, bits: int, signed: bool) -> int:
    kind = f"{'int' if signed else 'uint'}{bits}"
    # bool is an int subclass, but the JS rejects booleans for number types and so do we.
    if isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str):
        if value[:2] in ("0x", "0X"):
            digits = _hex_payload(value, f"a {kind} hex string")
            if not digits:
                raise _BadValue(f"a {kind} hex string needs digits after 0x")
            number = int(digits, 16)
        elif value.isascii() and _DECIMAL.fullmatch(value):
            try:
                number = int(value)
            except ValueError:  # past Python's int-from-str digit limit: far beyond 256 bits anyway
                raise _BadValue(f"{value[:20]}... has too many digits for a {kind}") from None
        else:
            raise _BadValue(f"expected a {kind} as an integer, a decimal string or a 0x-prefixed hex string")
    else:
        raise _BadValue(f"expected a {kind} as an integer or a decimal/hex string, not {type(value).__name__}")
    if signed:
        bound = 1 << (bits - 1)
        if not -bound <= number < bound:
            raise _BadValue(f"{number} is out of range for {kind} (-2**{bits - 1} .. 2**{bits - 1} - 1)")
    else:
        if number < 0:
            raise _BadValue(f"{number} is negative; {kind} values must be >= 0")
        if number >> bits:
            raise _BadValue(f"{number} overflows {kind} (max 2**{bits} - 1)")
    return number


def _parse_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if value == "true" or value == "false":  # the JS accepts these two strings too
        return value == "true"
    raise _BadValue(f'expected a bool (True/False or "true"/"false"), not {type(value).__name__}')


def _parse_bytes(value: Any, size: int | None) -> bytes:
    what = "bytes" if size is None else f"bytes{size}"
    if isinstance(value, str):
        digits = _hex_payload(value, what)
        if len(digits) % 2:
            raise _BadValue(f"{what} hex string has an odd number of digits")
        raw = bytes.fromhex(digits)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
    else:
        raise _BadValue(f"expected {what} as a 0x-prefixed hex string or bytes, not {type(value).__name__}")
    if size is not None and len(raw) != size:
        # The JS right-pads short values; a short commitment hash is a bug, so we refuse.
        raise _BadValue(f"{what} needs exactly {size} bytes, got {len(raw)}")
    return raw


def _parse_string(value: Any) -> str:
    if not isinstance(value, str):
        raise _BadValue(f"expected a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _BadValue(f"string is not encodable as UTF-8: {exc.reason}") from None
    return value


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray | memoryview)


# ---------------------------------------------------------------------------------------
# 32-byte words: the fast path for address, uintN, intN, bool and bytesN
# ---------------------------------------------------------------------------------------
#
# These types encode to one 32-byte word each, so a leaf is just its words side by side and
# needs no eth_abi call. Building a million leaves one Python call per field is too slow,
# so the words are made a whole column at a time with C-level string and bytes operations;
# a column that is not plainly valid falls back to the per-value converters, which raise
# the _parse_* errors. Both paths accept exactly the same values.

_WordConverter = Callable[[Any], int]
_ColumnEncoder = Callable[[list[Any]], bytes]


@dataclass(frozen=True, slots=True)
class _WordType:
    convert: _WordConverter  # one value -> its word as an int (raises _BadValue)
    column: _ColumnEncoder  # many values -> their words, concatenated


def _per_value(convert: _WordConverter, items: list[Any]) -> bytes:
    return b"".join([convert(item).to_bytes(32, "big") for item in items])


def _hex_column(items: list[Any], size: int, *, left_pad: bool) -> bytes | None:
    """Words for a column of ``0x`` + ``2 * size`` hex strings, or None if any is not one.

    Bulk checks first: all items are str of the right length, each starts with 0x/0X and
    no other x exists. Then the prefixes' x become 0 (a same-length, single-character
    replace), so ``unhexlify`` — which rejects anything but hex, whitespace included —
    decodes the whole column in one call.
    """
    n, width = len(items), 2 * size + 2
    if set(map(type, items)) != {str} or set(map(len, items)) != {width}:
        return None
    if left_pad:
        # Zeros as the join separator (plus one more in front) turn each "0x" + digits
        # into exactly one 64-digit word, the prefix's "0x" becoming part of the padding.
        sep = "0" * (64 - width)
        joined, offset, stride = sep + sep.join(items), len(sep), 64
    else:
        joined, offset, stride = "".join(items), 0, width
    if (
        joined[offset::stride].strip("0")
        or joined[offset + 1 :: stride].strip("xX")
        or joined.count("x") + joined.count("X") != n
    ):
        return None
    try:
        decoded = binascii.unhexlify(joined.replace("x", "0").replace("X", "0"))
    except (ValueError, binascii.Error):
        return None
    if left_pad:
        return decoded
    # Each row is the prefix's zero byte, then the value: drop the former, right-pad the latter.
    values = map(itemgetter(0), iter_unpack(f"x{size}s", decoded))
    pad = bytes(32 - size)
    return pad.join(values) + pad


def _address_word(value: Any) -> int:
    return int.from_bytes(_parse_address(value), "big")


def _address_column(items: list[Any]) -> bytes:
    words = _hex_column(items, 20, left_pad=True)
    return _per_value(_address_word, items) if words is None else words


def _integers(items: list[Any]) -> list[int] | None:
    """The column as ints when it is all ints or all plain decimal strings, else None."""
    kinds = set(map(type, items))
    if kinds == {int}:
        return items
    if kinds == {str}:
        joined = "".join(items)
        if joined.isdigit() and joined.isascii() and all(items) and max(map(len, items)) <= 78:
            return list(map(int, items))
    return None


def _uint_type(bits: int) -> _WordType:
    def convert(value: Any) -> int:
        return _parse_integer(value, bits, signed=False)

    def column(items: list[Any]) -> bytes:
        numbers = _integers(items)
        if numbers is None or not numbers or min(numbers) < 0 or max(numbers) >> bits:
            return _per_value(convert, items)
        return b"".join(map(int.to_bytes, numbers, repeat(32), repeat("big")))

    return _WordType(convert, column)


def _int_type(bits: int) -> _WordType:
    low, high, mask = -(1 << (bits - 1)), 1 << (bits - 1), _UINT256_LIMIT - 1

    def convert(value: Any) -> int:
        return _parse_integer(value, bits, signed=True) & mask  # two's complement word

    def column(items: list[Any]) -> bytes:
        if set(map(type, items)) != {int} or min(items) < low or max(items) >= high:
            return _per_value(convert, items)
        return b"".join(map(int.to_bytes, map(mask.__and__, items), repeat(32), repeat("big")))

    return _WordType(convert, column)


def _bool_word(value: Any) -> int:
    return int(_parse_bool(value))


_BOOL_WORDS: Final = {False: bytes(32), True: (1).to_bytes(32, "big")}


def _bool_column(items: list[Any]) -> bytes:
    if set(map(type, items)) != {bool}:
        return _per_value(_bool_word, items)
    return b"".join(map(_BOOL_WORDS.__getitem__, items))


def _fixed_bytes_type(size: int) -> _WordType:
    def convert(value: Any) -> int:
        return int.from_bytes(_parse_bytes(value, size).ljust(32, b"\0"), "big")

    def column(items: list[Any]) -> bytes:
        words = _hex_column(items, size, left_pad=False)
        return _per_value(convert, items) if words is None else words

    return _WordType(convert, column)


def _word_type(abi_type: ABIType) -> _WordType | None:
    """The fast encoder for a single-word static type, or None if it needs eth_abi."""
    if not isinstance(abi_type, BasicType) or abi_type.is_array:
        return None
    base, sub = abi_type.base, abi_type.sub
    if base == "address":
        return _WordType(_address_word, _address_column)
    if base == "bool":
        return _WordType(_bool_word, _bool_column)
    if base == "uint":
        return _uint_type(sub or 256)
    if base == "int":
        return _int_type(sub or 256)
    if base == "bytes" and sub is not None:
        return _fixed_bytes_type(sub)
    return None


def _interleave(columns: list[bytes], rows: int) -> bytes | bytearray:
    """Row-major leaf encodings from column-major words (strided copies, no Python loop)."""
    if len(columns) == 1:
        return columns[0]
    lanes = 4 * len(columns)  # 8-byte lanes per row
    out = bytearray(32 * len(columns) * rows)
    with memoryview(out) as raw, raw.cast("Q") as target:
        for position, column in enumerate(columns):
            with memoryview(column) as col_raw, col_raw.cast("Q") as source:
                for lane in range(4):
                    target[4 * position + lane :: lanes] = source[lane::4]
    return out


# ---------------------------------------------------------------------------------------
# Leaf codec: one compiled leaf encoding
# ---------------------------------------------------------------------------------------

_SUPPORTED_BASES: Final = frozenset({"address", "bool", "uint", "int", "bytes", "string"})


def _check_supported(abi_type: ABIType, text: str) -> None:
    if isinstance(abi_type, TupleType):
        for component in abi_type.components:
            _check_supported(component, text)
    elif abi_type.base not in _SUPPORTED_BASES:
        raise MerkleTreeError(f"unsupported type {abi_type.base!r} in leaf encoding {text!r}")


def _normalize(abi_type: ABIType, value: Any) -> Any:
    """``value`` as the Python object eth_abi expects for ``abi_type``, validated like the JS."""
    if abi_type.is_array:
        if not _is_sequence(value):
            raise _BadValue(f"expected a list for {abi_type.to_type_str()}, not {type(value).__name__}")
        length = abi_type.arrlist[-1]
        if length and len(value) != length[0]:
            raise _BadValue(f"{abi_type.to_type_str()} needs exactly {length[0]} elements, got {len(value)}")
        item = abi_type.item_type
        out = []
        for position, element in enumerate(value):
            try:
                out.append(_normalize(item, element))
            except _BadValue as exc:
                raise _BadValue(f"element [{position}]: {exc}") from None
        return out
    if isinstance(abi_type, TupleType):
        components = abi_type.components
        if not _is_sequence(value) or len(value) != len(components):
            raise _BadValue(f"expected a list of {len(components)} items for {abi_type.to_type_str()}")
        items = []
        for position, (component, element) in enumerate(zip(components, value, strict=True)):
            try:
                items.append(_normalize(component, element))
            except _BadValue as exc:
                raise _BadValue(f"component [{position}]: {exc}") from None
        return tuple(items)
    base, sub = abi_type.base, abi_type.sub
    if base == "address":
        return _parse_address(value)
    if base == "bool":
        return _parse_bool(value)
    if base in ("uint", "int"):
        return _parse_integer(value, sub or 256, signed=base == "int")
    if base == "bytes":
        return _parse_bytes(value, sub)
    return _parse_string(value)


class _LeafCodec:
    """Encodes and hashes leaves for one leaf encoding (compile once, reuse)."""

    def __init__(self, leaf_encoding: tuple[str, ...]) -> None:
        abi_types: list[ABIType] = []
        for text in leaf_encoding:
            if not isinstance(text, str):
                raise MerkleTreeError(f"leaf encoding entries must be ABI type strings, got {_short(text)}")
            try:
                abi_type = parse_abi_type(text)
                abi_type.validate()
            except (ParseError, ABITypeError) as exc:
                raise MerkleTreeError(f"invalid ABI type {text!r} in leaf encoding: {exc}") from None
            _check_supported(abi_type, text)
            abi_types.append(abi_type)
        self.leaf_encoding = leaf_encoding
        self._abi_types = tuple(abi_types)
        # eth_abi spells the aliases out ("uint" -> "uint256"); the dump keeps the user's text.
        self._canonical_types = [abi_type.to_type_str() for abi_type in abi_types]
        word_types = [_word_type(abi_type) for abi_type in abi_types]
        self._words: tuple[_WordType, ...] | None = (
            tuple(word_types) if all(w is not None for w in word_types) else None  # type: ignore[arg-type]
        )

    # -- single values (precise errors) ---------------------------------------------------

    def encode(self, value: Any, where: str = "value") -> bytes:
        """``abi.encode(leaf_encoding, value)``, or MerkleTreeError saying what is wrong."""
        arity = len(self._abi_types)
        if not _is_sequence(value):
            raise MerkleTreeError(
                f"{where}: a leaf value must be a list or tuple of {arity} items, not {type(value).__name__}"
            )
        if len(value) != arity:
            raise MerkleTreeError(
                f"{where}: the leaf encoding {list(self.leaf_encoding)} has {arity} types "
                f"but the value has {len(value)} items: {_short(value)}"
            )
        normalized = []
        for position, (abi_type, element) in enumerate(zip(self._abi_types, value, strict=True)):
            try:
                normalized.append(_normalize(abi_type, element))
            except _BadValue as exc:
                raise MerkleTreeError(
                    f"{where}[{position}] ({self.leaf_encoding[position]}): {exc} (got {_short(element)})"
                ) from None
        if self._words is not None:
            # _normalize accepted every element, so the converters cannot fail here.
            return b"".join(
                word.convert(element).to_bytes(32, "big") for word, element in zip(self._words, value, strict=True)
            )
        try:
            return eth_abi.encode(self._canonical_types, normalized)
        except EncodingError as exc:  # pragma: no cover - _normalize rejects these first
            raise MerkleTreeError(f"{where}: cannot ABI-encode {_short(value)}: {exc}") from None

    def hash(self, value: Any, where: str = "value") -> bytes:
        return _Keccak(_Keccak(self.encode(value, where)).digest()).digest()

    # -- many values (fast) -----------------------------------------------------------------

    def hash_many(self, values: Sequence[Any], start: int, stop: int, *, with_index: bool) -> list[bytes]:
        """Leaf hashes of ``values[start:stop]``, each followed by its 4-byte index if asked.

        The fast path assumes valid input; on any failure the chunk is re-checked value by
        value so the error names the first bad value exactly as :meth:`encode` would.
        """
        chunk = values[start:stop]
        try:
            if self._words is not None and chunk:
                arity = len(self._words)
                if set(map(type, chunk)) <= {list, tuple} and set(map(len, chunk)) == {arity}:
                    # In batches, so the column buffers stay a few MB however big the tree is.
                    hashes: list[bytes] = []
                    for offset in range(0, len(chunk), _WORD_BATCH):
                        batch = chunk[offset : offset + _WORD_BATCH]
                        hashes += self._hash_words(batch, start + offset, with_index)
                    return hashes
            return self._hash_general(chunk, start, with_index)
        except MerkleTreeError:
            raise
        except Exception as exc:
            for offset, value in enumerate(chunk):
                self.encode(value, f"values[{start + offset}]")
            raise MerkleTreeError(f"cannot hash values[{start}:{stop}]: {exc!r}") from exc  # pragma: no cover

    def _hash_general(self, chunk: Sequence[Any], start: int, with_index: bool) -> list[bytes]:
        keccak, encode, pack = _Keccak, self.encode, _pack_index
        if with_index:
            return [
                keccak(keccak(encode(v, f"values[{i}]")).digest()).digest() + pack(i)
                for i, v in enumerate(chunk, start)
            ]
        return [keccak(keccak(encode(v, f"values[{i}]")).digest()).digest() for i, v in enumerate(chunk, start)]

    def _hash_words(self, chunk: Sequence[Any], start: int, with_index: bool) -> list[bytes]:
        assert self._words is not None
        columns = [word.column(list(map(itemgetter(j), chunk))) for j, word in enumerate(self._words)]
        encoded = iter_unpack(f"{32 * len(columns)}s", _interleave(columns, len(chunk)))
        del columns
        keccak, pack = _Keccak, _pack_index
        if with_index:
            return [keccak(keccak(m).digest()).digest() + pack(i) for i, (m,) in enumerate(encoded, start)]
        return [keccak(keccak(m).digest()).digest() for (m,) in encoded]


@lru_cache(maxsize=64)
def _codec(leaf_encoding: tuple[str, ...]) -> _LeafCodec:
    return _LeafCodec(leaf_encoding)


def _codec_for(leaf_encoding: Sequence[str]) -> _LeafCodec:
    if isinstance(leaf_encoding, str) or not isinstance(leaf_encoding, Sequence):
        raise MerkleTreeError(
            f"leaf_encoding must be a list of ABI type strings, e.g. ['address', 'uint256'], "
            f"not {_short(leaf_encoding)}"
        )
    try:
        return _codec(tuple(leaf_encoding))
    except TypeError:  # unhashable entries
        raise MerkleTreeError(f"leaf encoding entries must be ABI type strings, got {_short(leaf_encoding)}") from None


def leaf_hash(leaf_encoding: Sequence[str], value: Sequence[Any]) -> bytes:
    """OpenZeppelin's standard leaf hash, ``keccak256(keccak256(abi.encode(types, value)))``."""
    return _codec_for(leaf_encoding).hash(value)


# ---------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return _Keccak(a + b if a < b else b + a).digest()


def _hash_pairs(children: bytes | memoryview) -> bytes:
    """Parents of consecutive (left, right) 32-byte children, concatenated."""
    keccak = _Keccak
    return b"".join([keccak(a + b if a < b else b + a).digest() for a, b in iter_unpack("32s32s", children)])


def _process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = _hash_pair(node, sibling)
    return node


def _node_bytes(node: Any, what: str) -> bytes:
    """A 32-byte node from hex (0x optional, as the JS accepts) or bytes."""
    if isinstance(node, bytes | bytearray | memoryview):
        raw = bytes(node)
    elif isinstance(node, str):
        digits = node[2:] if node[:2] == "0x" else node
        if len(digits) % 2 or not digits.isascii() or not _HEX_CHARS.fullmatch(digits):
            raise MerkleTreeError(f"{what} is not a hex string: {_short(node)}")
        raw = bytes.fromhex(digits)
    else:
        raise MerkleTreeError(f"{what} must be a hex string or bytes, not {type(node).__name__}")
    if len(raw) != _NODE:
        raise MerkleTreeError(f"{what} must be 32 bytes, got {len(raw)}: {_short(node)}")
    return raw


def _proof_bytes(proof: Any) -> list[bytes]:
    if not _is_sequence(proof):
        raise MerkleTreeError(f"a proof must be a list of 32-byte hex strings, not {type(proof).__name__}")
    return [_node_bytes(node, f"proof[{position}]") for position, node in enumerate(proof)]


def _hex(node: bytes | bytearray | memoryview) -> str:
    return "0x" + bytes(node).hex()


def _level_bounds(leaves: int) -> Iterator[tuple[int, int]]:
    """``(first, stop)`` index ranges of internal nodes, one tree depth at a time, deepest first.

    Depth ``d`` of the array holds indices ``2**d - 1 .. 2**(d+1) - 2``; internal nodes are
    ``0 .. leaves - 2``. Every child of a depth is in the next one, so deepest-first works.
    """
    internal = leaves - 1
    depth = internal.bit_length() - 1 if internal else -1
    for d in range(depth, -1, -1):
        first = (1 << d) - 1
        yield first, min((1 << (d + 1)) - 1, internal)


# ---------------------------------------------------------------------------------------
# Helper processes
# ---------------------------------------------------------------------------------------


def _helper_pays_off(leaves: int) -> bool:
    """Auto mode: fork a helper for big trees on Linux when a second CPU is there to use."""
    if leaves < _PARALLEL_MIN_LEAVES or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        cpus = os.cpu_count() or 1
    return cpus >= 2


class _Helper:
    """A forked process that runs ``task`` with its end of a pipe.

    Fork (not spawn) because the child must see the caller's values without pickling a
    million of them. The child never returns into the caller's code: it always leaves
    through ``os._exit``. Its messages are tagged: ``D`` data, ``V`` a value error, ``X`` a
    crash; the parent's are plain.
    """

    def __init__(self, task: Callable[[Connection], None]) -> None:
        parent_end, child_end = Pipe()
        try:
            pid = os.fork()
        except OSError:
            parent_end.close()
            child_end.close()
            raise
        if pid == 0:  # pragma: no cover - runs in the child; its effects are tested
            status = 0
            try:
                # The caller's handlers (a Celery or Django server's, say) are not ours to run.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                parent_end.close()
                task(child_end)
            except MerkleTreeError as exc:
                status = 1
                _send_quietly(child_end, b"V" + str(exc).encode())
            except BaseException as exc:
                status = 2
                _send_quietly(child_end, b"X" + f"{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(status)
        child_end.close()
        self.pid = pid
        self.conn = parent_end

    def send(self, data: bytes | bytearray | memoryview) -> None:
        self.conn.send_bytes(data)

    def receive(self) -> memoryview:
        try:
            message = self.conn.recv_bytes()
        except EOFError:
            raise RuntimeError("Merkle helper process exited unexpectedly") from None
        tag, body = message[:1], memoryview(message)[1:]
        if tag == b"D":
            return body
        if tag == b"V":
            raise MerkleTreeError(bytes(body).decode())
        raise RuntimeError(f"Merkle helper process failed: {bytes(body).decode()}")

    def close(self, *, kill: bool) -> None:
        if kill:  # it may be mid-computation or blocked sending; don't wait for it
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.conn.close()  # an idle helper sees EOF and exits
        os.waitpid(self.pid, 0)


def _send_quietly(conn: Connection, message: bytes) -> None:
    with contextlib.suppress(OSError):  # the other side is gone; nothing left to tell
        conn.send_bytes(message)


def _serve_levels(conn: Connection) -> None:  # pragma: no cover - child side
    """Helper loop: hash every block of children the parent sends, until it hangs up."""
    while True:
        try:
            children = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(b"D" + _hash_pairs(children))


def _build_levels(buf: bytearray, leaves: int, helper: _Helper | None) -> None:
    """Fill the internal nodes of ``buf`` (leaves already in place), level by level.

    A big level is cut in two: the helper hashes the second half while we hash the first.
    """
    with memoryview(buf) as view:
        for first, stop in _level_bounds(leaves):
            if helper is not None and stop - first >= _PARALLEL_MIN_LEVEL:
                middle = (first + stop) // 2
                helper.send(view[(2 * middle + 1) * _NODE : (2 * stop + 1) * _NODE])
                buf[first * _NODE : middle * _NODE] = _hash_pairs(
                    view[(2 * first + 1) * _NODE : (2 * middle + 1) * _NODE]
                )
                buf[middle * _NODE : stop * _NODE] = helper.receive()
            else:
                buf[first * _NODE : stop * _NODE] = _hash_pairs(view[(2 * first + 1) * _NODE : (2 * stop + 1) * _NODE])


def _split_entries(blob: bytes | memoryview) -> list[bytes]:
    return list(map(itemgetter(0), iter_unpack(f"{_NODE + _INDEX_BYTES}s", blob)))


def _tree_order(entries: list[bytes]) -> tuple[bytearray, array]:
    """Sorted ``hash ++ index`` entries -> (the hashes in tree order, their value indices).

    Tree order is descending: sorted leaf ``j`` sits at tree index ``2n - 2 - j``. Hashes
    and indices are pulled apart with strided copies over 4-byte words, not a Python loop.
    Empties ``entries`` to free them early.
    """
    entries.reverse()
    blob = b"".join(entries)
    entries.clear()
    hashes = bytearray(len(blob) // (_NODE + _INDEX_BYTES) * _NODE)
    stride, words_per_node = (_NODE + _INDEX_BYTES) // 4, _NODE // 4
    with memoryview(blob) as raw, raw.cast("I") as source, memoryview(hashes) as out, out.cast("I") as target:
        for word in range(words_per_node):
            target[word::words_per_node] = source[word::stride]
        owner = array("I", source[words_per_node::stride].tobytes())
    if sys.byteorder == "little":
        owner.byteswap()  # the index suffix is big-endian so that it sorts numerically
    return hashes, owner


class _NoHelper(Exception):
    """The system refused a pipe or a fork; building falls back to one process."""


def _build(codec: _LeafCodec, values: Sequence[Any], *, sort_leaves: bool, parallel: bool) -> tuple[bytearray, array]:
    """Hash, order and combine ``values``.

    Returns the node buffer and ``owner``: ``owner[k]`` is the input index of the value whose
    leaf sits at tree index ``n - 1 + k``.
    """
    leaves = len(values)
    buf = bytearray(_NODE * (2 * leaves - 1))
    if parallel and leaves >= 2:
        try:
            owner = _build_with_helper(buf, codec, values, sort_leaves)
        except _NoHelper:
            pass
        else:
            return buf, owner
    if sort_leaves:
        entries = codec.hash_many(values, 0, leaves, with_index=True)
        entries.sort()
        hashes, owner = _tree_order(entries)
    else:
        hashes_in_order = codec.hash_many(values, 0, leaves, with_index=False)
        hashes_in_order.reverse()
        hashes = bytearray(b"".join(hashes_in_order))
        del hashes_in_order
        owner = array("I", range(leaves - 1, -1, -1))
    buf[(leaves - 1) * _NODE :] = hashes
    del hashes
    _build_levels(buf, leaves, None)
    return buf, owner


def _build_with_helper(buf: bytearray, codec: _LeafCodec, values: Sequence[Any], sort_leaves: bool) -> array:
    """:func:`_build` with a forked helper taking half of every step.

    Sorting is split by hash range rather than merged at the end: each process hashes half
    of the values and sorts them; the helper keeps the entries whose hash starts with a
    byte >= 0x80 and hands us the rest, we hand it our high half, and each merges and lays
    out its own range. Keccak output is uniform, so the ranges come out about equal.
    """
    leaves = len(values)
    middle = leaves // 2
    try:
        helper = _Helper(_helper_task(codec, values, middle, leaves, sort_leaves))
    except OSError as exc:
        raise _NoHelper from exc
    failed = True
    try:
        if sort_leaves:
            entries = codec.hash_many(values, 0, middle, with_index=True)
            entries.sort()
            cut = bisect_left(entries, _HIGH_RANGE)
            high = b"".join(entries[cut:])
            del entries[cut:]
            entries.extend(_split_entries(helper.receive()))
            helper.send(high)
            del high
            entries.sort()  # two sorted runs: Timsort merges them
            low_hashes, low_owner = _tree_order(entries)
            # Leaves in tree order: the high range (descending) first, then the low range.
            high_hashes = helper.receive()
            high_owner = array("I")
            high_owner.frombytes(helper.receive())
            boundary = (leaves - 1) * _NODE + len(high_hashes)
            buf[(leaves - 1) * _NODE : boundary] = high_hashes
            buf[boundary:] = low_hashes
            del high_hashes, low_hashes
            owner = high_owner + low_owner
        else:
            hashes = codec.hash_many(values, 0, middle, with_index=False)
            hashes.extend(map(itemgetter(0), iter_unpack(f"{_NODE}s", helper.receive())))
            hashes.reverse()
            buf[(leaves - 1) * _NODE :] = b"".join(hashes)
            del hashes
            owner = array("I", range(leaves - 1, -1, -1))
        _build_levels(buf, leaves, helper)
        failed = False
    finally:
        helper.close(kill=failed)
    return owner


def _helper_task(
    codec: _LeafCodec, values: Sequence[Any], start: int, stop: int, sort_leaves: bool
) -> Callable[[Connection], None]:
    """The helper's side of :func:`_build_with_helper`."""

    def task(conn: Connection) -> None:  # pragma: no cover - child side
        if sort_leaves:
            entries = codec.hash_many(values, start, stop, with_index=True)
            entries.sort()
            cut = bisect_left(entries, _HIGH_RANGE)
            conn.send_bytes(b"D" + b"".join(entries[:cut]))
            del entries[:cut]
            entries.extend(_split_entries(conn.recv_bytes()))
            entries.sort()
            hashes, owner = _tree_order(entries)
            conn.send_bytes(b"D" + hashes)
            del hashes
            conn.send_bytes(b"D" + owner.tobytes())
        else:
            conn.send_bytes(b"D" + b"".join(codec.hash_many(values, start, stop, with_index=False)))
        _serve_levels(conn)

    return task


# ---------------------------------------------------------------------------------------
# Dumps
# ---------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A value as it appears in a dump.

    The JS stores values verbatim and ``JSON.stringify`` cannot write a bigint, so JS users
    pass uints as decimal strings; Python ints are written the same way. Bytes become 0x hex
    (how the JS accepts them), strings and booleans stay as they are.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return [_jsonable(item) for item in value]
    raise MerkleTreeError(f"cannot write {_short(value)} into a dump")


def _dump_error(message: str) -> MerkleTreeError:
    return MerkleTreeError(f"invalid {DUMP_FORMAT} dump: {message}")


def _parse_dump_tree(tree: Any) -> bytearray:
    if not isinstance(tree, list) or not tree:
        raise _dump_error("'tree' must be a non-empty list of 0x-prefixed 32-byte hex strings")
    if len(tree) % 2 == 0:
        raise _dump_error(f"'tree' has {len(tree)} nodes; a tree of n leaves has 2n - 1")
    for position, node in enumerate(tree):
        if type(node) is not str or len(node) != 66 or node[:2] != "0x":
            raise _dump_error(f"tree[{position}] is not a 0x-prefixed 32-byte hex string: {_short(node)}")
    digits = "".join([node[2:] for node in tree])
    if not digits.isascii() or not _LOWER_HEX.fullmatch(digits):
        for position, node in enumerate(tree):
            if not node[2:].isascii() or not _LOWER_HEX.fullmatch(node[2:]):
                raise _dump_error(f"tree[{position}] is not lowercase hex: {_short(node)}")
    return bytearray.fromhex(digits)


# ---------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MultiProof:
    """A proof for several leaves at once (OpenZeppelin's ``multiProofVerify`` format).

    ``leaves`` are in the order the proof consumes them (as the JS returns them), so pass
    them in that order on chain.
    """

    leaves: list[Any]
    proof: list[str]
    proof_flags: list[bool]

    def to_json(self) -> dict[str, Any]:
        """The JS library's shape: ``{"leaves", "proof", "proofFlags"}``."""
        return {"leaves": [_jsonable(v) for v in self.leaves], "proof": self.proof, "proofFlags": self.proof_flags}


def proof_positions(tree_index: int) -> list[int]:
    """Tree-array positions of the siblings from leaf ``tree_index`` up to the root, in proof order.

    In the OpenZeppelin layout node ``i`` has children ``2i+1`` and ``2i+2``, so a left child
    (odd ``i``) has its sibling at ``i+1`` and a right child at ``i-1``.
    """
    if tree_index < 0:
        raise MerkleTreeError(f"tree index {tree_index} is negative")
    positions = []
    while tree_index > 0:
        positions.append(tree_index + 1 if tree_index % 2 else tree_index - 1)
        tree_index = (tree_index - 1) // 2
    return positions


class StandardMerkleTree:
    """A Merkle tree over ABI-encoded values, compatible with OpenZeppelin's StandardMerkleTree.

    Build with :meth:`of` or :meth:`load`; the constructor is internal. Values keep their
    input order: ``get_proof(i)`` proves ``values[i]``, wherever sorting put its leaf.
    """

    __slots__ = ("_buf", "_codec", "_hash_lookup", "_owner", "_slots", "_values")

    def __init__(
        self,
        buf: bytearray,
        values: tuple[Any, ...],
        codec: _LeafCodec,
        *,
        owner: array | None = None,
        slots: array | None = None,
    ) -> None:
        self._buf = buf
        self._values = values
        self._codec = codec
        self._owner = owner
        self._slots = slots
        self._hash_lookup: dict[bytes, int] | None = None

    @property
    def _tree_index(self) -> array:
        """``_tree_index[i]``: where ``values[i]``'s leaf sits (the dump's ``treeIndex``).

        Building only records which value landed in each leaf slot; inverting that is
        deferred to the first proof or dump, since computing the root does not need it.
        """
        if self._slots is None:
            assert self._owner is not None
            slots = array("I", bytes(4 * len(self._owner)))
            deque(map(slots.__setitem__, self._owner, count(len(self._owner) - 1)), maxlen=0)
            self._slots, self._owner = slots, None
        return self._slots

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        values: Sequence[Sequence[Any]],
        leaf_encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
        parallel: bool | None = None,
    ) -> StandardMerkleTree:
        """Build the tree the JS ``StandardMerkleTree.of(values, leafEncoding, {sortLeaves})`` builds.

        ``values`` may use Python ints or decimal/0x-hex strings for integer types, 0x hex or
        bytes for address/bytesN/bytes, True/False for bool. ``parallel`` forks one helper
        process to share the hashing (where ``os.fork`` exists); the default does so on Linux
        for 32768+ leaves when two CPUs are available. The result is the same either way.
        """
        codec = _codec_for(leaf_encoding)
        stored = tuple(values)
        if not stored:
            raise MerkleTreeError("Expected non-zero number of leaves: a Merkle tree needs at least one value")
        if len(stored) >= 1 << (8 * _INDEX_BYTES):
            raise MerkleTreeError(f"{len(stored)} values is more than this implementation indexes (2**32 - 1)")
        if parallel is None:
            parallel = _helper_pays_off(len(stored))
        buf, owner = _build(codec, stored, sort_leaves=sort_leaves, parallel=parallel and hasattr(os, "fork"))
        return cls(buf, stored, codec, owner=owner)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Rebuild a tree from a ``"standard-v1"`` dump (ours or the JS library's) and validate it.

        Stricter than the JS on structure: the values must occupy each leaf slot exactly
        once. Every leaf is re-hashed from its value and every internal node recomputed, so
        a dump whose tree does not match its values is rejected with a MerkleTreeError.
        """
        if not isinstance(data, Mapping):
            raise _dump_error(f"expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if fmt != DUMP_FORMAT:
            raise MerkleTreeError(f"Unknown format {fmt!r}: expected a {DUMP_FORMAT!r} dump")
        leaf_encoding = data.get("leafEncoding")
        if not isinstance(leaf_encoding, list) or not all(isinstance(t, str) for t in leaf_encoding):
            raise _dump_error("'leafEncoding' must be a list of ABI type strings")
        codec = _codec_for(leaf_encoding)
        buf = _parse_dump_tree(data.get("tree"))
        leaves = (len(buf) // _NODE + 1) // 2

        entries = data.get("values")
        if not isinstance(entries, list):
            raise _dump_error("'values' must be a list of {'value': [...], 'treeIndex': int}")
        if len(entries) != leaves:
            raise _dump_error(f"{len(entries)} values for a tree with {leaves} leaf slots")
        values: list[Any] = []
        tree_index = array("I", bytes(4 * leaves))
        seen = bytearray(leaves)
        for position, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "value" not in entry or "treeIndex" not in entry:
                raise _dump_error(f"values[{position}] must be an object with 'value' and 'treeIndex'")
            index = entry["treeIndex"]
            if type(index) is not int or not leaves - 1 <= index < 2 * leaves - 1:
                raise _dump_error(
                    f"values[{position}].treeIndex must be a leaf slot in {leaves - 1}..{2 * leaves - 2}, got {index!r}"
                )
            if seen[index - leaves + 1]:
                raise _dump_error(f"values[{position}].treeIndex {index} is used by another value")
            seen[index - leaves + 1] = 1
            tree_index[position] = index
            values.append(entry["value"])

        tree = cls(buf, tuple(values), codec, slots=tree_index)
        tree.validate()
        return tree

    # -- reading --------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The root as ``0x`` + 64 lowercase hex digits."""
        return _hex(self._buf[:_NODE])

    @property
    def leaf_encoding(self) -> tuple[str, ...]:
        return self._codec.leaf_encoding

    @property
    def values(self) -> tuple[Any, ...]:
        """The values in input order (index ``i`` is what ``get_proof(i)`` proves)."""
        return self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<StandardMerkleTree root={self.root} leaves={len(self)} encoding={list(self.leaf_encoding)}>"

    def at(self, index: int) -> Any:
        return self._values[self._check_index(index)]

    def entries(self) -> Iterator[tuple[int, Any]]:
        return enumerate(self._values)

    def tree_index(self, index: int) -> int:
        """Where ``values[index]``'s leaf sits in the node array (the dump's ``treeIndex``)."""
        return self._tree_index[self._check_index(index)]

    def node_bytes(self) -> bytes:
        """The whole node array, 32 bytes a node in tree-array order (the dump's ``tree``)."""
        return bytes(self._buf)

    def node(self, tree_index: int) -> str:
        """Node ``tree_index`` of the flat array, as hex."""
        if not 0 <= tree_index < len(self._buf) // _NODE:
            raise MerkleTreeError(f"tree index {tree_index} is out of bounds")
        return _hex(self._node(tree_index))

    def dump(self) -> dict[str, Any]:
        """The ``"standard-v1"`` JSON structure the JS ``dump()`` returns, as plain dicts/lists."""
        digits = self._buf.hex()
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": ["0x" + digits[i : i + 64] for i in range(0, len(digits), 64)],
            "values": [
                {"value": _jsonable(value), "treeIndex": index}
                for value, index in zip(self._values, self._tree_index, strict=True)
            ],
        }

    def dumps(self) -> str:
        """:meth:`dump` as JSON text."""
        return json.dumps(self.dump())

    # -- proofs -----------------------------------------------------------------------------

    def leaf_hash(self, value: Sequence[Any]) -> str:
        return _hex(self._codec.hash(value))

    def leaf_lookup(self, value: Sequence[Any]) -> int:
        """The input index of ``value`` (the last one, for duplicates, as the JS does)."""
        if self._hash_lookup is None:
            buf = self._buf
            self._hash_lookup = {
                bytes(buf[t * _NODE : (t + 1) * _NODE]): position for position, t in enumerate(self._tree_index)
            }
        position = self._hash_lookup.get(self._codec.hash(value))
        if position is None:
            raise MerkleTreeError(f"Leaf is not in tree: {_short(value)}")
        return position

    def get_proof(self, leaf: int | Sequence[Any]) -> list[str]:
        """The sibling hashes from the leaf up, for ``values[leaf]`` or for a value itself."""
        position = self._position(leaf)
        self._check_value_at(position)
        index = self._tree_index[position]
        proof = []
        while index > 0:
            proof.append(self._node(index + 1 if index % 2 else index - 1))
            index = (index - 1) // 2
        if _process_proof(self._node(self._tree_index[position]), proof) != self._node(0):
            raise MerkleTreeError("Unable to prove value")  # pragma: no cover - tree was validated
        return [_hex(node) for node in proof]

    def verify(self, leaf: int | Sequence[Any], proof: Sequence[str | bytes]) -> bool:
        """Whether ``proof`` proves ``leaf`` (an input index or a value) against this root."""
        value = self._values[self._position(leaf)] if isinstance(leaf, int) else leaf
        return _process_proof(self._codec.hash(value), _proof_bytes(proof)) == self._node(0)

    @staticmethod
    def verify_proof(
        root: str | bytes, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[str | bytes]
    ) -> bool:
        """The JS static ``StandardMerkleTree.verify``: does ``proof`` take ``value`` to ``root``?"""
        expected = _node_bytes(root, "root")
        return _process_proof(_codec_for(leaf_encoding).hash(value), _proof_bytes(proof)) == expected

    def get_multi_proof(self, leaves: Sequence[int | Sequence[Any]]) -> MultiProof:
        """A multiproof for several values (input indices or values), as the JS builds it."""
        positions = [self._position(leaf) for leaf in leaves]
        for position in positions:
            self._check_value_at(position)
        indices = sorted((self._tree_index[p] for p in positions), reverse=True)
        if any(a == b for a, b in pairwise(indices)):
            raise MerkleTreeError("Cannot prove duplicated index")
        stack = deque(indices)
        proof: list[bytes] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.popleft()
            sibling = j + 1 if j % 2 else j - 1
            if stack and stack[0] == sibling:
                flags.append(True)
                stack.popleft()
            else:
                flags.append(False)
                proof.append(self._node(sibling))
            stack.append((j - 1) // 2)
        if not indices:
            proof.append(self._node(0))
        leaf_nodes = [self._node(i) for i in indices]
        if _process_multi_proof(leaf_nodes, proof, flags) != self._node(0):
            raise MerkleTreeError("Unable to prove values")  # pragma: no cover - tree was validated
        lookup = {self._node(self._tree_index[p]): p for p in positions}
        return MultiProof(
            leaves=[self._values[lookup[node]] for node in leaf_nodes],
            proof=[_hex(node) for node in proof],
            proof_flags=flags,
        )

    def verify_multi(self, multiproof: MultiProof) -> bool:
        """Whether ``multiproof`` (leaves as values or input indices) holds against this root."""
        hashes = [
            self._codec.hash(self._values[self._check_index(leaf)])
            if isinstance(leaf, int) and not isinstance(leaf, bool)
            else self._codec.hash(leaf)
            for leaf in multiproof.leaves
        ]
        return _process_multi_proof(hashes, _proof_bytes(multiproof.proof), multiproof.proof_flags) == self._node(0)

    @staticmethod
    def verify_multi_proof(root: str | bytes, leaf_encoding: Sequence[str], multiproof: MultiProof) -> bool:
        """The JS static ``StandardMerkleTree.verifyMultiProof``."""
        codec = _codec_for(leaf_encoding)
        hashes = [codec.hash(leaf) for leaf in multiproof.leaves]
        result = _process_multi_proof(hashes, _proof_bytes(multiproof.proof), multiproof.proof_flags)
        return result == _node_bytes(root, "root")

    # -- validation -------------------------------------------------------------------------

    def validate(self) -> None:
        """Recompute every leaf from its value and every internal node; raise if any differs."""
        leaves = len(self._values)
        hashes = self._codec.hash_many(self._values, 0, leaves, with_index=False)
        buf = self._buf
        for position, (expected, index) in enumerate(zip(hashes, self._tree_index, strict=True)):
            if buf[index * _NODE : (index + 1) * _NODE] != expected:
                raise MerkleTreeError(
                    f"Merkle tree does not contain the expected value: the leaf at tree[{index}] is not the hash "
                    f"of values[{position}] {_short(self._values[position])}"
                )
        rebuilt = bytearray(buf)
        _build_levels(rebuilt, leaves, None)
        if rebuilt != buf:
            mismatch = next(i for i in range(leaves - 1) if self._node(i) != rebuilt[i * _NODE : (i + 1) * _NODE])
            raise MerkleTreeError(f"Merkle tree is invalid: tree[{mismatch}] is not the hash of its two children")

    # -- internals --------------------------------------------------------------------------

    def _node(self, index: int) -> bytes:
        return bytes(self._buf[index * _NODE : (index + 1) * _NODE])

    def _check_index(self, index: int) -> int:
        if not isinstance(index, int) or isinstance(index, bool):
            raise MerkleTreeError(f"expected an integer index, got {_short(index)}")
        if not 0 <= index < len(self._values):
            raise MerkleTreeError(f"Index out of bounds: {index} (tree has {len(self._values)} values)")
        return index

    def _position(self, leaf: int | Sequence[Any]) -> int:
        if isinstance(leaf, int) and not isinstance(leaf, bool):
            return self._check_index(leaf)
        return self.leaf_lookup(leaf)  # type: ignore[arg-type]

    def _check_value_at(self, position: int) -> None:
        index = self._tree_index[position]
        if self._node(index) != self._codec.hash(self._values[position], f"values[{position}]"):
            raise MerkleTreeError("Merkle tree does not contain the expected value")


def _process_multi_proof(leaves: Sequence[bytes], proof: Sequence[bytes], flags: Sequence[bool]) -> bytes:
    if not _is_sequence(flags) or not all(isinstance(flag, bool) for flag in flags):
        raise MerkleTreeError("proofFlags must be a list of booleans")
    if len(proof) < sum(1 for flag in flags if not flag):
        raise MerkleTreeError("Invalid multiproof format: fewer proof nodes than false flags")
    if len(leaves) + len(proof) != len(flags) + 1:
        raise MerkleTreeError("Provided leaves and multiproof are not compatible: leaves + proof != flags + 1")
    stack = deque(leaves)
    siblings = deque(proof)
    try:
        for flag in flags:
            a = stack.popleft()
            b = stack.popleft() if flag else siblings.popleft()
            stack.append(_hash_pair(a, b))
    except IndexError:
        raise MerkleTreeError("Invalid multiproof: the flags consume more nodes than provided") from None
    if len(stack) + len(siblings) != 1:
        raise MerkleTreeError("Invalid multiproof: nodes are left over after processing")  # pragma: no cover
    return stack.pop() if stack else siblings.popleft()
