"""The demo vault's first-response state: paused, shut down, and what each holder can still take.

Reads go through ``eth_call`` at an explicit block (one JSON-RPC batch), so a monitor's
observation, the holder's page and a test all name the block they describe, and amounts
come back as exact integers in base units. The two writes (``shutdown_vault`` and
``emergency_withdraw``) are for tests and the demo; pausing belongs to the circuit breaker.
"""

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.logs import DISCARD

from chain.artifacts import bind, load_artifact
from chain.errors import ChainError, RpcError
from chain.logs import RawRpc
from chain.rpc import endpoint
from chain.transact import send

VAULT_ARTIFACT = "DemoVault"


class NotAShutdownVault(ChainError):
    """An address has no code, or does not answer the vault's pause and shutdown views."""

    def __init__(self, *, address: str, block: int, reason: str) -> None:
        super().__init__(f"{address} is not a vault with pause and shutdown at block {block}: {reason}")
        self.address, self.block, self.reason = address, block, reason


@dataclass(frozen=True, slots=True)
class VaultState:
    """The vault at one block. ``shutdown_assets`` and ``shutdown_block`` are 0 before shutdown."""

    paused: bool
    shut_down: bool
    total_assets: int
    total_supply: int
    shutdown_assets: int
    shutdown_block: int

    @property
    def withdrawn_since_shutdown(self) -> int:
        """Collateral that has left since shutdown (``shutdown_assets - total_assets``), 0 before it.

        Never below 0: assets sent to the vault after shutdown (a donation) do not count as
        negative withdrawals.
        """
        if not self.shut_down:
            return 0
        return max(self.shutdown_assets - self.total_assets, 0)


@dataclass(frozen=True, slots=True)
class ShutdownReceipt:
    """What the ``Shutdown`` event of a shutdown transaction says."""

    by: ChecksumAddress
    assets: int
    supply: int
    block: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class EmergencyWithdrawal:
    """What the ``EmergencyWithdraw`` event of one holder's withdrawal says."""

    owner: ChecksumAddress
    receiver: ChecksumAddress
    assets: int
    shares: int
    block: int
    tx_hash: str


_STATE_VIEWS = ("paused", "isShutdown", "totalAssets", "totalSupply", "shutdownAssets", "shutdownBlock")


def vault_state(rpc_or_w3: RawRpc | Web3, vault: str, block: int) -> VaultState:
    """The vault's pause and shutdown state and its totals at ``block``, in one batch.

    Raises ``NotAShutdownVault`` when the address has no code or a view reverts or returns
    something else (an older vault without shutdown, say); a node failure raises
    ``RpcUnavailable`` or ``RpcError``.
    """
    values = _views(rpc_or_w3, vault, block, [(name, ()) for name in _STATE_VIEWS])
    paused, shut_down, total_assets, total_supply, shutdown_assets, shutdown_block = (v[0] for v in values)
    return VaultState(
        paused=bool(paused),
        shut_down=bool(shut_down),
        total_assets=int(total_assets),
        total_supply=int(total_supply),
        shutdown_assets=int(shutdown_assets),
        shutdown_block=int(shutdown_block),
    )


def withdrawable(rpc_or_w3: RawRpc | Web3, vault: str, account: str, block: int) -> tuple[int, int]:
    """``account``'s shares at ``block`` and the assets they are worth: ``(shares, assets)``.

    The assets are the vault's own ``convertToAssets(shares)`` at that block, so they are
    exactly what ``emergencyWithdraw`` (after shutdown) or a full ``redeem`` would pay then.
    """
    holder = to_checksum_address(account)
    ((shares,),) = _views(rpc_or_w3, vault, block, [("balanceOf", (holder,))])
    if shares == 0:
        return 0, 0
    ((assets,),) = _views(rpc_or_w3, vault, block, [("convertToAssets", (shares,))])
    return int(shares), int(assets)


def shutdown_vault(w3: Web3, vault: str, account: LocalAccount) -> ShutdownReceipt:
    """Shut the vault down from ``account`` (governance or the guardian), waiting for the receipt.

    A caller without the right, or a vault already shut down, raises ``Reverted`` with the
    contract's error (``NotGovernanceOrGuardian``, ``VaultShutDown``) before anything is sent.
    """
    contract = bind(w3, VAULT_ARTIFACT, vault)
    receipt = send(w3, account, contract.functions.shutdown())
    (event,) = contract.events.Shutdown().process_receipt(receipt, errors=DISCARD)
    return ShutdownReceipt(
        by=to_checksum_address(event["args"]["by"]),
        assets=int(event["args"]["assets"]),
        supply=int(event["args"]["supply"]),
        block=int(receipt["blockNumber"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
    )


def emergency_withdraw(w3: Web3, vault: str, account: LocalAccount, receiver: str) -> EmergencyWithdrawal:
    """Withdraw all of ``account``'s shares from a shut-down vault to ``receiver``.

    Raises ``Reverted`` with ``NotShutDown`` before shutdown and ``NoShares`` for an account
    holding none, before anything is sent.
    """
    contract = bind(w3, VAULT_ARTIFACT, vault)
    receipt = send(w3, account, contract.functions.emergencyWithdraw(to_checksum_address(receiver)))
    (event,) = contract.events.EmergencyWithdraw().process_receipt(receipt, errors=DISCARD)
    return EmergencyWithdrawal(
        owner=to_checksum_address(event["args"]["owner"]),
        receiver=to_checksum_address(event["args"]["receiver"]),
        assets=int(event["args"]["assets"]),
        shares=int(event["args"]["shares"]),
        block=int(receipt["blockNumber"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
    )


@functools.cache
def _function(name: str) -> tuple[str, list[str], list[str]]:
    """Selector (0x hex), input types and output types of one vault function, from its artifact."""
    entry = next(e for e in load_artifact(VAULT_ARTIFACT).abi if e.get("type") == "function" and e["name"] == name)
    inputs, outputs = [p["type"] for p in entry["inputs"]], [p["type"] for p in entry["outputs"]]
    return "0x" + function_abi_to_4byte_selector(entry).hex(), inputs, outputs


def _views(
    rpc_or_w3: RawRpc | Web3, vault: str, block: int, calls: list[tuple[str, tuple[Any, ...]]]
) -> list[tuple[Any, ...]]:
    """The decoded results of view ``calls`` on ``vault`` at ``block``, after checking it has code."""
    address = to_checksum_address(vault)
    rpc, owned = _client(rpc_or_w3)
    try:
        requests_: list[tuple[str, list[Any]]] = [("eth_getCode", [address, hex(block)])]
        for name, args in calls:
            selector, inputs, _ = _function(name)
            data = selector + encode(inputs, list(args)).hex()
            requests_.append(("eth_call", [{"to": address, "data": data}, hex(block)]))
        code_reply, *replies = rpc.batch(requests_)
    finally:
        if owned:
            rpc.close()
    code = code_reply.get("result")
    if code_reply.get("error") is not None:
        raise RpcError(f"eth_getCode of {address} at block {block} failed: {str(code_reply['error'])[:200]}")
    if not isinstance(code, str) or code in ("0x", ""):
        raise NotAShutdownVault(address=address, block=block, reason="no contract code at this address")
    return [
        _decoded(reply, vault=address, block=block, name=name) for reply, (name, _) in zip(replies, calls, strict=True)
    ]


def _decoded(reply: dict[str, Any], *, vault: str, block: int, name: str) -> tuple[Any, ...]:
    error = reply.get("error")
    if error is not None:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        # Nodes report reverts as code 3 (geth, anvil) or -32000/-32015 with "revert" in the text.
        if code == 3 or "revert" in message.lower():
            raise NotAShutdownVault(address=vault, block=block, reason=f"{name}() reverted ({message[:120]})")
        raise RpcError(f"eth_call {name}() on {vault} at block {block} failed: {message[:200]} (code {code})")
    result = reply.get("result")
    types = _function(name)[2]
    try:
        if not isinstance(result, str) or not result.startswith("0x") or len(result) != 2 + 64 * len(types):
            raise DecodingError(f"unexpected reply {result!r}")
        return tuple(decode(types, bytes.fromhex(result[2:])))
    except (DecodingError, ValueError):
        returned = f"{(len(result) - 2) // 2} bytes" if isinstance(result, str) else repr(result)
        raise NotAShutdownVault(
            address=vault, block=block, reason=f"{name}() returned {returned}, not ({', '.join(types)})"
        ) from None


def _client(rpc_or_w3: RawRpc | Web3) -> tuple[RawRpc, bool]:
    """A ``RawRpc`` for the argument, and whether this module opened it (and so must close it)."""
    if isinstance(rpc_or_w3, RawRpc):
        return rpc_or_w3, False
    return RawRpc(endpoint(rpc_or_w3)), True
