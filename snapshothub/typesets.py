"""The EIP-712 type sets the hub knows, named as the sequencer names them: by sha256 of ``JSON.stringify(types)``.

Our own copy of the Proposal and Vote types of ``@snapshot-labs/snapshot.js`` 0.17.5: a single-choice
vote (``uint32``), an array vote (``uint32[]``, approval and ranked choice) and a string vote
(quadratic, weighted, shutter), and the proposal. Any other set is refused with "wrong types".
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import keccak

DOMAIN_NAME = "snapshot"
DOMAIN_VERSION = "0.1.4"


def _fields(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "type": kind} for name, kind in pairs]


PROPOSAL = {
    "Proposal": _fields(
        ("from", "string"),
        ("space", "string"),
        ("timestamp", "uint64"),
        ("type", "string"),
        ("title", "string"),
        ("body", "string"),
        ("discussion", "string"),
        ("choices", "string[]"),
        ("labels", "string[]"),
        ("start", "uint64"),
        ("end", "uint64"),
        ("snapshot", "uint64"),
        ("plugins", "string"),
        ("privacy", "string"),
        ("app", "string"),
    )
}


def _vote(choice_type: str) -> dict[str, list[dict[str, str]]]:
    return {
        "Vote": _fields(
            ("from", "string"),
            ("space", "string"),
            ("timestamp", "uint64"),
            ("proposal", "string"),
            ("choice", choice_type),
            ("reason", "string"),
            ("app", "string"),
            ("metadata", "string"),
        )
    }


VOTE = _vote("uint32")
VOTE_ARRAY = _vote("uint32[]")
VOTE_STRING = _vote("string")


def types_hash(types: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``types`` serialised as ``JSON.stringify`` does (key order kept, no spaces)."""
    return hashlib.sha256(json.dumps(types, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


# The message kind of each known type set, by its hash.
KNOWN_TYPES: dict[str, str] = {
    types_hash(PROPOSAL): "proposal",
    types_hash(VOTE): "vote",
    types_hash(VOTE_ARRAY): "vote-array",
    types_hash(VOTE_STRING): "vote-string",
}


def primary_type(types: Mapping[str, Any]) -> str:
    """The one type no other type refers to, as ethers infers it; ValueError unless there is exactly one."""
    referenced = {str(field.get("type", "")).split("[")[0] for fields in types.values() for field in fields}
    roots = [name for name in types if name not in referenced]
    if len(roots) != 1:
        raise ValueError(f"{len(roots)} primary types")
    return roots[0]


def typed_data(domain: Mapping[str, Any], types: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """The full EIP-712 structure (``EIP712Domain`` derived from the domain's keys) for ``eth_account``."""
    order = (
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
        ("salt", "bytes32"),
    )
    own = {name: fields for name, fields in types.items() if name != "EIP712Domain"}
    return {
        "types": {"EIP712Domain": _fields(*[(n, k) for n, k in order if n in domain]), **own},
        "primaryType": primary_type(own),
        "domain": dict(domain),
        "message": dict(message),
    }


def digest(domain: Mapping[str, Any], types: Mapping[str, Any], message: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest (what is signed, and the message's id); ValueError/TypeError if it cannot be encoded."""
    signable = encode_typed_data(full_message=typed_data(domain, types, message))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)
