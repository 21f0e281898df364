"""Sending a transaction so that it lands once: fees, signing, broadcast, and finding what was mined.

Plain web3.py, no Django. The caller (``recovery/execution.py``) keeps the signed bytes and every
hash a transaction ever had in its database; this module only answers questions about the chain:

- ``suggest_fees``: EIP-1559 fees from the head's base fee, never above a configured cap;
- ``bump_fees``: a replacement's fees, each raised by at least 10% in integers (nodes refuse a
  replacement at the same nonce below that, "replacement transaction underpriced");
- ``sign``: the raw bytes and hash of a transaction, to be stored *before* it is broadcast;
- ``broadcast``: ``eth_sendRawTransaction``, where "already known", "nonce too low" and
  "replacement underpriced" mean the node has (or had) a transaction at that nonce: the caller
  then finds which of its hashes was mined, it never signs again for that reason alone;
- ``find_mined``: the receipt of whichever of a transaction's hashes was mined;
- ``is_canonical``: whether a block a receipt named is still on the chain (reorgs);
- ``replay_revert``: a failed transaction's revert reason, by replaying its call at its block.

OpenZeppelin's Relayer does the same broadcast classification; unlike it, the caller here checks
confirmations again after a reorg, and nonces are never only raised (``chain_nonces`` gives the
chain's view for the caller to reconcile with).
"""

from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from chain.errors import ChainError
from chain.rpc import rpc_unavailable
from chain.transact import decode_revert

# The smallest priority fee we offer when the node suggests none (1 gwei), and the bump nodes
# require of a replacement at the same nonce (geth's default price bump is 10%).
DEFAULT_PRIORITY_FEE = 10**9
BUMP_NUMERATOR, BUMP_DENOMINATOR = 11, 10

# Answers of eth_sendRawTransaction meaning "a transaction at this nonce is (or was) known":
# geth, anvil, reth, nethermind, erigon phrase them differently.
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown", "already exists")
_NONCE_TOO_LOW = ("nonce too low", "nonce has already been used", "oldnonce", "nonce is too low")
_UNDERPRICED = ("replacement transaction underpriced", "replacement underpriced", "replacementnotallowed")


class FeeCapTooLow(ChainError):
    """The configured fee cap is below what the chain needs now (base fee), so nothing can be sent."""

    def __init__(self, *, cap: int, base_fee: int) -> None:
        super().__init__(
            f"the head's base fee is {base_fee} wei/gas, above the fee cap of {cap} wei/gas "
            "(raise EXECUTION_MAX_FEE_PER_GAS, or wait for lower fees)"
        )
        self.cap, self.base_fee = cap, base_fee


class BroadcastRefused(ChainError):
    """The node refused the raw transaction for a reason that resending the same bytes will not fix."""


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: str  # lowercase 0x-hex
    nonce: int
    fees: Fees
    gas: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """What the node said: ``accepted``, ``already_known``, ``nonce_too_low`` or ``underpriced``."""

    outcome: str

    @property
    def fresh(self) -> bool:
        return self.outcome == "accepted"


def bump(value: int) -> int:
    """``value`` raised by at least 10%, rounded up, and by at least 1."""
    return max(value + 1, (value * BUMP_NUMERATOR + BUMP_DENOMINATOR - 1) // BUMP_DENOMINATOR)


def suggest_fees(w3: Web3, *, cap: int, priority: int | None = None) -> Fees:
    """Fees for a transaction sent now: twice the head's base fee plus the tip, capped at ``cap``.

    ``FeeCapTooLow`` when the base fee already exceeds the cap (the transaction could not be mined).
    """
    try:
        block = w3.eth.get_block("latest")
        base_fee = int(block.get("baseFeePerGas") or 0)
        if priority is None:
            try:
                priority = int(w3.eth.max_priority_fee)
            except Web3RPCError:
                priority = DEFAULT_PRIORITY_FEE
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    if base_fee > cap:
        raise FeeCapTooLow(cap=cap, base_fee=base_fee)
    priority = max(priority, 1)
    max_fee = min(2 * base_fee + priority, cap)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(priority, max_fee))


def bump_fees(previous: Fees, *, current: Fees | None = None, cap: int) -> Fees | None:
    """The fees of a replacement for a transaction sent with ``previous``: each at least 10% higher.

    Never below ``current`` (what the chain asks for now). None when the bumped max fee would
    exceed ``cap``: the transaction then waits at its fees, and the caller says so.
    """
    max_fee = bump(previous.max_fee_per_gas)
    priority = bump(previous.max_priority_fee_per_gas)
    if current is not None:
        max_fee = max(max_fee, current.max_fee_per_gas)
        priority = max(priority, current.max_priority_fee_per_gas)
    if max_fee > cap:
        return None
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(priority, max_fee))


def sign(
    account: LocalAccount,
    *,
    chain_id: int,
    nonce: int,
    to: str,
    data: str | bytes,
    gas: int,
    fees: Fees,
    value: int = 0,
) -> SignedTx:
    """A signed EIP-1559 transaction; nothing is sent."""
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "value": value,
        "data": HexBytes(data),
        "gas": gas,
        "maxFeePerGas": fees.max_fee_per_gas,
        "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
    }
    signed = account.sign_transaction(tx)
    return SignedTx(
        raw=bytes(signed.raw_transaction),
        tx_hash="0x" + bytes(signed.hash).hex(),
        nonce=nonce,
        fees=fees,
        gas=gas,
    )


def broadcast(w3: Web3, raw: bytes) -> Broadcast:
    """Send ``raw``; a node that already has a transaction at its nonce is not an error (see the module).

    ``BroadcastRefused`` for any other refusal (insufficient funds, a gas limit over the block's);
    ``RpcUnavailable`` when the node does not answer.
    """
    try:
        w3.eth.send_raw_transaction(raw)
    except Web3RPCError as error:
        text = str(error).lower()
        if any(marker in text for marker in _ALREADY_KNOWN):
            return Broadcast("already_known")
        if any(marker in text for marker in _NONCE_TOO_LOW):
            return Broadcast("nonce_too_low")
        if any(marker in text for marker in _UNDERPRICED):
            return Broadcast("underpriced")
        if _is_transport(error):
            raise rpc_unavailable(w3, error) from None
        raise BroadcastRefused(f"the node refused the transaction: {str(error).splitlines()[0][:200]}") from None
    except (requests.RequestException, OSError) as error:
        raise rpc_unavailable(w3, error) from None
    return Broadcast("accepted")


def _is_transport(error: Web3RPCError) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in ("timeout", "too many requests", "503", "502", "rate limit"))


def receipt(w3: Web3, tx_hash: str) -> TxReceipt | None:
    """The receipt of ``tx_hash``, or None when it is not mined (or unknown)."""
    try:
        return w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    except TransactionNotFound:
        return None
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def find_mined(w3: Web3, tx_hashes: list[str]) -> TxReceipt | None:
    """The receipt of the one of ``tx_hashes`` that was mined (they share a nonce: at most one is)."""
    for tx_hash in tx_hashes:
        found = receipt(w3, tx_hash)
        if found is not None and found.get("blockHash") is not None:
            return found
    return None


def is_pending(w3: Web3, tx_hash: str) -> bool:
    """Whether the node knows ``tx_hash`` (in its pool or mined): False means it was dropped."""
    try:
        return w3.eth.get_transaction(HexBytes(tx_hash)) is not None
    except TransactionNotFound:
        return False
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def is_canonical(w3: Web3, block_number: int, block_hash: str) -> bool:
    """Whether block ``block_number`` of the chain now is ``block_hash`` (False after a reorg removed it)."""
    try:
        block = w3.eth.get_block(block_number)
    except Exception as error:  # web3 raises BlockNotFound past the head: the block is gone
        if type(error).__name__ == "BlockNotFound":
            return False
        if isinstance(error, requests.RequestException | OSError | Web3RPCError):
            raise rpc_unavailable(w3, error) from None
        raise
    return "0x" + bytes(block["hash"]).hex() == block_hash.lower()


def head(w3: Web3) -> int:
    try:
        return int(w3.eth.block_number)
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def chain_nonces(w3: Web3, address: str) -> tuple[int, int]:
    """(mined, pending) transaction counts of ``address``: its next nonce without and with the pool."""
    try:
        address = to_checksum_address(address)
        return int(w3.eth.get_transaction_count(address, "latest")), int(
            w3.eth.get_transaction_count(address, "pending")
        )
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def balance(w3: Web3, address: str) -> int:
    try:
        return int(w3.eth.get_balance(to_checksum_address(address)))
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def replay_revert(w3: Web3, *, sender: str, to: str, data: str | bytes, gas: int, block_number: int) -> str:
    """Why a mined transaction failed: its call replayed with ``eth_call`` on the state before its block.

    Returns the decoded error as ``Name(arg, ...)``; ``revert`` when the replay does not revert
    (the failure depended on an earlier transaction of the same block).
    """
    params = {"from": to_checksum_address(sender), "to": to_checksum_address(to), "data": HexBytes(data), "gas": gas}
    try:
        w3.eth.call(params, block_identifier=max(block_number - 1, 0))  # type: ignore[arg-type]
    except Web3RPCError as error:
        return _revert_text(getattr(error, "data", None) or _error_data(error))
    except Exception as error:  # ContractLogicError and its kin carry the revert data
        data = getattr(error, "data", None)
        if data is None:
            if isinstance(error, requests.RequestException | OSError):
                raise rpc_unavailable(w3, error) from None
            return str(error)[:200]
        return _revert_text(data)
    return "revert (the call succeeds when replayed alone)"


def _error_data(error: Web3RPCError) -> str | None:
    rpc = getattr(error, "rpc_response", None) or {}
    data = rpc.get("error", {}).get("data") if isinstance(rpc, dict) else None
    return data if isinstance(data, str) else None


def _revert_text(data: Any) -> str:
    name, args = decode_revert(data if isinstance(data, str | bytes) else None)
    return f"{name}({', '.join(map(str, args))})" if args else name
