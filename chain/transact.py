"""Signing and sending transactions, reading their nonces and receipts, and turning reverts into ``Reverted``."""

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxParams, TxReceipt

from chain.artifacts import custom_errors
from chain.errors import Reverted
from chain.rpc import rpc_unavailable

T = TypeVar("T")


def decode_revert(data: str | bytes | None) -> tuple[str, tuple[Any, ...]]:
    """Name and arguments of a revert from its return data, using every artifact's errors."""
    raw = HexBytes(data or b"")
    if len(raw) < 4:
        return ("revert", ())
    selector, payload = bytes(raw[:4]), bytes(raw[4:])
    if selector == bytes.fromhex("08c379a0"):  # Error(string)
        return ("Error", abi_decode(["string"], payload))
    if selector == bytes.fromhex("4e487b71"):  # Panic(uint256)
        return ("Panic", abi_decode(["uint256"], payload))
    known = custom_errors().get(selector)
    if known is None:
        return (f"unknown error 0x{selector.hex()}", ())
    name, types = known
    values = abi_decode(types, payload)
    return (name, tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)))


def reverts_as_chain_errors(call: Callable[[], T]) -> T:
    """Run ``call``, re-raising web3.py's revert exceptions as ``Reverted``."""
    try:
        return call()
    except ContractCustomError as error:
        raise Reverted(*decode_revert(error.data)) from None
    except ContractPanicError as error:
        raise Reverted(*decode_revert(error.data)) from None
    except ContractLogicError as error:
        if error.data and isinstance(error.data, str) and error.data.startswith("0x"):
            raise Reverted(*decode_revert(error.data)) from None
        raise Reverted(error.message or "revert") from None


def send(
    w3: Web3,
    account: LocalAccount,
    call: ContractFunction | ContractConstructor | None = None,
    *,
    tx: TxParams | None = None,
    wait: bool = True,
) -> TxReceipt | HexBytes:
    """Sign ``call`` (or the raw ``tx``) with ``account`` and send it.

    With ``wait`` the receipt is returned and a failed status raises ``Reverted``; without it,
    the hash. Fields given in ``tx`` (nonce, gas, fees, chainId) skip the node round trips
    that would fill them.
    """
    params: dict[str, Any] = {"from": account.address, **(tx or {})}
    if "nonce" not in params:
        params["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    if call is not None:
        params = reverts_as_chain_errors(lambda: call.build_transaction(params))  # type: ignore[arg-type]
    else:
        params.setdefault("chainId", w3.eth.chain_id)
        if "gas" not in params:
            params["gas"] = reverts_as_chain_errors(lambda: w3.eth.estimate_gas(params))  # type: ignore[arg-type]
        if "maxFeePerGas" not in params and "gasPrice" not in params:
            params["gasPrice"] = w3.eth.gas_price
    params.pop("from", None)
    signed = account.sign_transaction(params)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    if not wait:
        return tx_hash
    return wait_for(w3, tx_hash)


def wait_for(w3: Web3, tx_hash: HexBytes, *, timeout: float = 120) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
    if receipt["status"] != 1:
        raise Reverted("transaction failed", tx_hash=tx_hash.to_0x_hex())
    return receipt


def account_nonce(w3: Web3, address: str, *, pending: bool = True) -> int:
    """``address``'s next nonce: counting its pending transactions, or (``pending=False``) only mined ones."""
    try:
        return int(w3.eth.get_transaction_count(to_checksum_address(address), "pending" if pending else "latest"))
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def receipt_of(w3: Web3, tx_hash: str, *, timeout: float = 0, poll: float = 0.1) -> TxReceipt | None:
    """The transaction's receipt, waiting up to ``timeout`` seconds; None when it is not mined by then.

    A failed status is returned, not raised: the caller decides what a revert means.
    """
    try:
        if timeout <= 0:
            return w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        return w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout, poll_latency=poll)
    except (TimeExhausted, TransactionNotFound):
        return None
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
