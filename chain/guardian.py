"""The guardian's circuit breaker on any OpenZeppelin ``Pausable`` contract: read ``paused()``,
encode ``pause()``/``unpause()``, and read the ``Paused``/``Unpaused`` events.

Plain web3.py, no Django. The demo vault and the RecoveryExecutor both use OpenZeppelin 5's
``Pausable``, so one selector and one pair of events serve every target; the guardian's right to
call ``pause()`` is each contract's own business (``NotGuardian`` on the vault,
``AccessControlUnauthorizedAccount`` on the executor), found by estimating the call before
anything is signed.
"""

from dataclasses import dataclass

import requests
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3RPCError

from chain.errors import ChainError, Reverted
from chain.rpc import rpc_unavailable
from chain.transact import reverts_as_chain_errors

PAUSED_SELECTOR = "0x" + keccak(text="paused()")[:4].hex()
PAUSE_CALLDATA = "0x" + keccak(text="pause()")[:4].hex()
UNPAUSE_CALLDATA = "0x" + keccak(text="unpause()")[:4].hex()
# OpenZeppelin 5 Pausable: Paused(address account) / Unpaused(address account), the account not indexed.
PAUSED_TOPIC = "0x" + keccak(text="Paused(address)").hex()
UNPAUSED_TOPIC = "0x" + keccak(text="Unpaused(address)").hex()


class NotPausable(ChainError):
    """The address has no code, or its ``paused()`` reverts or answers something other than a bool."""

    def __init__(self, *, address: str, reason: str) -> None:
        super().__init__(f"{address} is not a pausable contract: {reason}")
        self.address, self.reason = address, reason


@dataclass(frozen=True, slots=True)
class PauseEvent:
    """One ``Paused`` or ``Unpaused`` log: which contract, which way, who sent it, where."""

    contract: str
    action: str  # "pause" or "unpause"
    by: str  # the account the event names (msg.sender of the call)
    block_number: int
    tx_hash: str


def is_paused(w3: Web3, contract: str, *, block: int | str = "latest") -> bool:
    """``paused()`` of ``contract`` at ``block``.

    ``NotPausable`` when it has none; ``RpcUnavailable`` when the node fails.
    """
    address = to_checksum_address(contract)
    try:
        code = w3.eth.get_code(address, block_identifier=block)
        if not code:
            raise NotPausable(address=address, reason=f"no contract code at block {block}")
        raw = reverts_as_chain_errors(
            lambda: w3.eth.call({"to": address, "data": HexBytes(PAUSED_SELECTOR)}, block_identifier=block)
        )
    except Reverted as error:
        raise NotPausable(address=address, reason=f"paused() {error}") from None
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    try:
        if len(raw) != 32:
            raise DecodingError(f"{len(raw)} bytes")
        (value,) = decode(["bool"], bytes(raw))
    except (DecodingError, ValueError):
        raise NotPausable(address=address, reason=f"paused() returned {len(raw)} bytes, not a bool") from None
    return bool(value)


def estimate_call(w3: Web3, *, sender: str, contract: str, data: str) -> int:
    """Gas for ``sender`` calling ``contract`` with ``data`` now; ``Reverted`` (decoded) when it would fail."""
    params = {"from": to_checksum_address(sender), "to": to_checksum_address(contract), "data": HexBytes(data)}
    try:
        return int(reverts_as_chain_errors(lambda: w3.eth.estimate_gas(params)))  # type: ignore[arg-type]
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def pause_events(w3: Web3, contracts: list[str], *, from_block: int, to_block: int) -> list[PauseEvent]:
    """The ``Paused``/``Unpaused`` logs of ``contracts`` in ``[from_block, to_block]``, in chain order."""
    if not contracts or to_block < from_block:
        return []
    addresses = [to_checksum_address(c) for c in contracts]
    try:
        logs = w3.eth.get_logs(
            {
                "address": addresses,
                "fromBlock": from_block,
                "toBlock": to_block,
                "topics": [[PAUSED_TOPIC, UNPAUSED_TOPIC]],
            }
        )
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    events = []
    for log in logs:
        topic = "0x" + bytes(log["topics"][0]).hex()
        data = bytes(log["data"])
        if len(data) != 32:
            continue  # not OpenZeppelin's event (an indexed account, say): not ours to read
        (by,) = decode(["address"], data)
        events.append(
            PauseEvent(
                contract=to_checksum_address(log["address"]),
                action="pause" if topic == PAUSED_TOPIC else "unpause",
                by=to_checksum_address(by),
                block_number=int(log["blockNumber"]),
                tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            )
        )
    return events
