"""Contract wallets (a Safe, any EIP-1271 account): asking the wallet whether it signed a digest.

Plain web3.py, no Django: it speaks JSON-RPC and ABI, so it belongs with ``chain/`` and is
kept free of the app to move there. ``isValidSignature(bytes32,bytes)`` answers the magic
value ``0x1626ba7e`` (its own selector) when the wallet accepts the signature; anything else —
another value, a revert, a short answer — is a refusal, not an error. A node that fails is
``RpcUnavailable``.
"""

from dataclasses import dataclass

import requests
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError

# The one wrapper of a node's failure into RpcUnavailable with the URL redacted.
from chain.governor import _unavailable

IS_VALID_SIGNATURE = "isValidSignature(bytes32,bytes)"
EIP1271_MAGIC = keccak(text=IS_VALID_SIGNATURE)[:4]  # 0x1626ba7e


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
        raise _unavailable(w3, error) from None


def read_block(w3: Web3, *, confirmations: int) -> tuple[int, str]:
    """The block ``confirmations`` below the head and its hash: wallets are read there, not where a reorg may reach."""
    try:
        head = w3.eth.block_number
        block = w3.eth.get_block(max(head - confirmations, 0))
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        raise _unavailable(w3, error) from None
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
        raise _unavailable(w3, error) from None
    except (requests.RequestException, OSError) as error:
        raise _unavailable(w3, error) from None
    if len(raw) < 32:
        return WalletAnswer(address, False, "no answer", number, block_hash)
    # bytes4 is returned left-aligned in one 32-byte word.
    return WalletAnswer(address, raw[:4] == EIP1271_MAGIC, "0x" + raw[:4].hex(), number, block_hash)
