"""Snapshot's signed messages, exactly as its client (``@snapshot-labs/snapshot.js``) signs them.

EIP-712 over the domain ``{name: "snapshot", version: "0.1.4"}`` (no chain id), with the
``Proposal`` and single-choice ``Vote`` types of the pinned snapshot.js (``package.json``);
``tests/governance/test_snapshot_messages.py`` checks digests against that package through Node.
A message's id on the hub is its digest. What is posted to the sequencer is the envelope
``{address, sig, data: {domain, types, message}}`` (``data`` has no ``EIP712Domain`` type and
no ``primaryType``: the sequencer infers both, as ethers does).

Plain data in, plain data out: no database, no network.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DOMAIN: dict[str, str] = {"name": "snapshot", "version": "0.1.4"}

PROPOSAL_TYPES: dict[str, list[dict[str, str]]] = {
    "Proposal": [
        {"name": "from", "type": "string"},
        {"name": "space", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "type", "type": "string"},
        {"name": "title", "type": "string"},
        {"name": "body", "type": "string"},
        {"name": "discussion", "type": "string"},
        {"name": "choices", "type": "string[]"},
        {"name": "labels", "type": "string[]"},
        {"name": "start", "type": "uint64"},
        {"name": "end", "type": "uint64"},
        {"name": "snapshot", "type": "uint64"},
        {"name": "plugins", "type": "string"},
        {"name": "privacy", "type": "string"},
        {"name": "app", "type": "string"},
    ]
}

VOTE_TYPES: dict[str, list[dict[str, str]]] = {
    "Vote": [
        {"name": "from", "type": "string"},
        {"name": "space", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "proposal", "type": "string"},
        {"name": "choice", "type": "uint32"},
        {"name": "reason", "type": "string"},
        {"name": "app", "type": "string"},
        {"name": "metadata", "type": "string"},
    ]
}

# Type "basic": three choices in this order; a vote's ``choice`` is 1-based.
BASIC_CHOICES: tuple[str, ...] = ("For", "Against", "Abstain")
FOR, AGAINST, ABSTAIN = 1, 2, 3
APP = "lifeboat"


def proposal_message(
    *,
    author: str,
    space: str,
    timestamp: int,
    title: str,
    body: str,
    start: int,
    end: int,
    snapshot: int,
    discussion: str = "",
    labels: Sequence[str] = (),
    plugins: str = "{}",
    privacy: str = "",
    app: str = APP,
) -> dict[str, Any]:
    """A ``basic`` (For/Against/Abstain) proposal message by ``author`` (made EIP-55, as snapshot.js does)."""
    return {
        "from": to_checksum_address(author),
        "space": space,
        "timestamp": int(timestamp),
        "type": "basic",
        "title": title,
        "body": body,
        "discussion": discussion,
        "choices": list(BASIC_CHOICES),
        "labels": list(labels),
        "start": int(start),
        "end": int(end),
        "snapshot": int(snapshot),
        "plugins": plugins,
        "privacy": privacy,
        "app": app,
    }


def vote_message(
    *,
    voter: str,
    space: str,
    proposal: str,
    choice: int,
    timestamp: int,
    reason: str = "",
    app: str = APP,
    metadata: str = "{}",
) -> dict[str, Any]:
    """A single-choice vote message (``choice`` 1 For, 2 Against, 3 Abstain on a basic proposal)."""
    return {
        "from": to_checksum_address(voter),
        "space": space,
        "timestamp": int(timestamp),
        "proposal": proposal,
        "choice": int(choice),
        "reason": reason,
        "app": app,
        "metadata": metadata,
    }


def message_data(types: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope's ``data``: ``{domain, types, message}``."""
    return {"domain": dict(DOMAIN), "types": {k: list(v) for k, v in types.items()}, "message": dict(message)}


def primary_type(types: Mapping[str, Any]) -> str:
    """The one type no other type refers to (how ethers picks it); ValueError when there is not exactly one."""
    referenced = {field["type"].rstrip("[]") for fields in types.values() for field in fields}
    roots = [name for name in types if name not in referenced]
    if len(roots) != 1:
        raise ValueError(f"the types name {len(roots)} primary types ({', '.join(roots) or 'none'}), not one")
    return roots[0]


def full_typed_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as EIP-712 tooling takes it: with the ``EIP712Domain`` type and ``primaryType``."""
    domain = data["domain"]
    domain_fields = [
        {"name": name, "type": kind}
        for name, kind in (
            ("name", "string"),
            ("version", "string"),
            ("chainId", "uint256"),
            ("verifyingContract", "address"),
            ("salt", "bytes32"),
        )
        if name in domain
    ]
    types = {k: v for k, v in data["types"].items() if k != "EIP712Domain"}
    return {
        "types": {"EIP712Domain": domain_fields, **types},
        "primaryType": primary_type(types),
        "domain": dict(domain),
        "message": dict(data["message"]),
    }


def digest(data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest of ``data`` (``{domain, types, message}``): what is signed, and the hub's id."""
    signable = encode_typed_data(full_message=full_typed_data(data))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def message_id(data: Mapping[str, Any]) -> str:
    """The hub's id of the message: ``0x`` + the digest in hex."""
    return "0x" + digest(data).hex()


def sign(account: "LocalAccount", data: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope ``{address, sig, data}`` signed by ``account``, as snapshot.js posts it."""
    signed = account.sign_message(encode_typed_data(full_message=full_typed_data(data)))
    return {
        "address": account.address,
        "sig": "0x" + bytes(signed.signature).hex(),
        "data": message_data(data["types"], data["message"]),
    }


def recover(data: Mapping[str, Any], sig: str) -> str:
    """The EIP-55 address whose ECDSA signature ``sig`` is over ``data`` (raises ValueError if malformed)."""
    return Account.recover_message(encode_typed_data(full_message=full_typed_data(data)), signature=sig)


def types_hash(types: Mapping[str, Any]) -> str:
    """sha256 (hex) of the types as ``JSON.stringify`` writes them: how the sequencer names a type set."""
    return hashlib.sha256(json.dumps(types, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
