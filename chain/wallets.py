"""Who signed a digest: an account's ECDSA signature, or a contract wallet (a Safe, any EIP-1271 account).

The one ECDSA normalisation and the one EIP-1271 check, used by committee sign-off and by
gasless ballots alike. ``normalize_ecdsa_signature`` takes a signature as OpenZeppelin's
``ECDSA.recover`` would, refusing what it refuses.
``isValidSignature(bytes32,bytes)`` answers the magic value ``0x1626ba7e`` (its own selector)
when the wallet accepts the signature; anything else (another value, a revert, a short answer)
is a refusal, not an error, as OpenZeppelin's ``SignatureChecker`` reads it. A node that fails
is ``RpcUnavailable``.
"""

from dataclasses import dataclass

import requests
from eth_abi import encode
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError

from chain.errors import ChainError
from chain.rpc import rpc_unavailable

IS_VALID_SIGNATURE = "isValidSignature(bytes32,bytes)"
EIP1271_MAGIC = keccak(text=IS_VALID_SIGNATURE)[:4]  # 0x1626ba7e
# secp256k1's order halved: OpenZeppelin's ECDSA refuses a larger s (malleable signatures).
_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class MalformedSignature(ChainError):
    """The bytes cannot be an ECDSA signature OpenZeppelin's ``ECDSA.recover`` accepts."""


@dataclass(frozen=True, slots=True)
class WalletAnswer:
    """What the wallet at ``address`` answered about a digest and signature, at ``block`` (with its hash)."""

    address: str
    valid: bool
    answer: str  # the 4 bytes returned, "revert", or "no answer"
    block_number: int
    block_hash: str


def has_code(w3: Web3, address: str, *, block: int) -> bool:
    try:
        return len(w3.eth.get_code(to_checksum_address(address), block)) > 0
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        raise rpc_unavailable(w3, error) from None


def read_block(w3: Web3, *, confirmations: int) -> tuple[int, str]:
    """The block ``confirmations`` below the head and its hash: wallets are read there, not where a reorg may reach."""
    try:
        head = w3.eth.block_number
        block = w3.eth.get_block(max(head - confirmations, 0))
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        raise rpc_unavailable(w3, error) from None
    return int(block["number"]), block["hash"].to_0x_hex()


def ask_wallet(w3: Web3, address: str, *, digest: bytes, signature: bytes, block: tuple[int, str]) -> WalletAnswer:
    """``isValidSignature(digest, signature)`` of the contract at ``address``, read at ``block`` (number, hash)."""
    number, block_hash = block
    data = EIP1271_MAGIC + encode(["bytes32", "bytes"], [digest, signature])
    try:
        raw = bytes(w3.eth.call({"to": to_checksum_address(address), "data": "0x" + data.hex()}, number))
    except (ContractLogicError, BadFunctionCallOutput):
        return WalletAnswer(address, False, "revert", number, block_hash)
    except Web3RPCError as error:
        if "revert" in str(error).lower():  # anvil and geth answer a revert as an RPC error
            return WalletAnswer(address, False, "revert", number, block_hash)
        raise rpc_unavailable(w3, error) from None
    except (requests.RequestException, OSError) as error:
        raise rpc_unavailable(w3, error) from None
    if len(raw) < 32:
        return WalletAnswer(address, False, "no answer", number, block_hash)
    # bytes4 is returned left-aligned in one 32-byte word.
    return WalletAnswer(address, raw[:4] == EIP1271_MAGIC, "0x" + raw[:4].hex(), number, block_hash)


def normalize_ecdsa_signature(signature: bytes) -> bytes:
    """``signature`` as OpenZeppelin's ``ECDSA.recover`` takes it: 65 bytes r || s || v, v 27 or 28, low s.

    A v of 0 or 1 (some signers' convention) becomes 27 or 28, the same signature.
    ``MalformedSignature`` for any other length, a v that is neither, or a high s.
    """
    if len(signature) != 65:
        raise MalformedSignature(
            f"an ECDSA signature is 65 bytes (r, s, v), not {len(signature)}; OpenZeppelin v5's ECDSA.recover "
            "accepts no other length (not the 64-byte EIP-2098 form)"
        )
    v = signature[64]
    if v in (0, 1):
        v += 27
    if v not in (27, 28):
        raise MalformedSignature(f"the signature's v is {signature[64]}, not 27 or 28")
    if int.from_bytes(signature[32:64], "big") > _HALF_ORDER:
        raise MalformedSignature(
            "the signature's s is in the upper half of the curve order, which OpenZeppelin's ECDSA refuses "
            "(a malleable signature): sign again with a wallet that produces canonical (low-s) signatures"
        )
    return signature[:64] + bytes([v])


def recover_signer(digest: bytes, signature: bytes) -> ChecksumAddress | None:
    """The address whose key made the (normalised) ECDSA ``signature`` over ``digest``; None if it recovers none."""
    try:
        r, s, v = (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64] - 27)
        public_key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValueError):
        return None
    return to_checksum_address(public_key.to_checksum_address())
