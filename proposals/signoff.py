"""Committee sign-off as EIP-712 typed data: what a member signs, its digest, and who signed it.

Pure: no database, no settings, no chain (``chain/wallets.py`` asks a contract
wallet through EIP-1271, and normalises ECDSA signatures for both). A member signs::

    domain  {name: "Lifeboat", version: "1", chainId, verifyingContract: the RecoveryExecutor}
    ProposalSignOff(uint256 incidentId,uint256 version,bytes32 contentHash)

``chainId`` and ``verifyingContract`` are the venue's: a sign-off for one chain or one
RecoveryExecutor never counts for another. ``incidentId`` and ``version`` name the document the
way voters read it ("incident 7, plan version 2"); ``contentHash`` is the keccak256 of its
canonical bytes, so the signature covers the exact document. In JSON (the API, the commands)
uint256 values are decimal strings; ``signoff_digest`` turns them back into integers.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError

from chain.wallets import MalformedSignature, normalize_ecdsa_signature

DOMAIN_NAME = "Lifeboat"
DOMAIN_VERSION = "1"
PRIMARY_TYPE = "ProposalSignOff"
SIGNOFF_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    PRIMARY_TYPE: [
        {"name": "incidentId", "type": "uint256"},
        {"name": "version", "type": "uint256"},
        {"name": "contentHash", "type": "bytes32"},
    ],
}


class SignatureFormatError(ValueError):
    """Not a signature at all: not 0x-hex, empty, or (for ECDSA) not r, s, v with a valid v and a low s."""


@dataclass(frozen=True, slots=True)
class EcdsaRecovery:
    """What a 65-byte signature says about its signer: the address, or why it has none."""

    signer: ChecksumAddress | None
    problem: str = ""


def signoff_typed_data(
    *, chain_id: int, recovery_executor: str, incident_id: int, version: int, content_hash: str
) -> dict[str, Any]:
    """The complete typed data a member signs (``eth_signTypedData_v4``), uint256 as decimal strings."""
    return {
        "types": SIGNOFF_TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": str(chain_id),
            "verifyingContract": to_checksum_address(recovery_executor),
        },
        "message": {"incidentId": str(incident_id), "version": str(version), "contentHash": content_hash},
    }


def signable_message(typed_data: Mapping[str, Any]) -> SignableMessage:
    """``typed_data`` (as ``signoff_typed_data`` builds it) encoded for signing and recovery."""
    domain, message = typed_data["domain"], typed_data["message"]
    return encode_typed_data(
        full_message={
            "types": SIGNOFF_TYPES,
            "primaryType": PRIMARY_TYPE,
            "domain": {**domain, "chainId": int(domain["chainId"])},
            "message": {
                "incidentId": int(message["incidentId"]),
                "version": int(message["version"]),
                "contentHash": message["contentHash"],
            },
        }
    )


def signoff_digest(typed_data: Mapping[str, Any]) -> str:
    """The EIP-712 digest (``0x`` + 64 hex): what ECDSA signs and EIP-1271 ``isValidSignature`` is asked about."""
    return "0x" + _hash_eip191_message(signable_message(typed_data)).hex()


def parse_signature(text: object) -> bytes:
    """A signature given as ``0x`` hex, as bytes; ``SignatureFormatError`` says what is wrong."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise SignatureFormatError("a signature is 0x-prefixed hex")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise SignatureFormatError("the signature is not hex (an even number of 0-9a-f digits after 0x)") from None
    if not raw:
        raise SignatureFormatError("the signature is empty")
    return raw


def normalized_ecdsa(signature: bytes) -> bytes:
    """A 65-byte ``r || s || v`` signature with ``v`` as 27 or 28 (wallets also give 0 or 1).

    ``SignatureFormatError`` for another length, another ``v``, or a high ``s``
    (``chain.wallets.normalize_ecdsa_signature``, which ballots use too).
    """
    try:
        return normalize_ecdsa_signature(signature)
    except MalformedSignature as error:
        raise SignatureFormatError(str(error)) from None


def recover_signer(typed_data: Mapping[str, Any], signature: bytes) -> EcdsaRecovery:
    """The address whose key made ``signature`` over ``typed_data``, or why the bytes name none."""
    try:
        normalized = normalized_ecdsa(signature)
    except SignatureFormatError as error:
        return EcdsaRecovery(signer=None, problem=str(error))
    try:
        return EcdsaRecovery(signer=Account.recover_message(signable_message(typed_data), signature=normalized))
    except (BadSignature, ValidationError, ValueError):
        return EcdsaRecovery(signer=None, problem="r and s are not a point's signature on secp256k1")


def signature_hex(signature: bytes) -> str:
    return "0x" + signature.hex()
