"""What the hub reads from the EVM node: blocks, code, EIP-1271 answers and erc20-votes voting power.

One ``Web3`` per thread (the server is threaded). Raises ``NodeUnavailable`` when the node does not
answer; a revert of a view call is answered as "no" / 0 where Snapshot's strategy would read 0.
"""

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

EIP1271_MAGIC = bytes.fromhex("1626ba7e")
_VOTES_ABI = [
    {
        "type": "function",
        "name": "getPastVotes",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}, {"name": "timepoint", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "getVotes",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]
_EIP1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]


class NodeUnavailable(Exception):
    """The EVM node did not answer (its URL redacted in the message)."""


def redact_url(url: str) -> str:
    """``scheme://host:port`` only: no credentials, path or query (an API key often hides there)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class Evm:
    """Reads from the node at ``rpc_url``."""

    def __init__(self, rpc_url: str, *, timeout: float = 10) -> None:
        self.rpc_url = rpc_url
        self.timeout = timeout
        self._local = threading.local()

    def _w3(self) -> Web3:
        w3 = getattr(self._local, "w3", None)
        if w3 is None:
            w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": self.timeout}))
            self._local.w3 = w3
        return w3

    def _call(self, action: str, fn: Any) -> Any:
        try:
            return fn()
        except ContractLogicError:
            raise
        except (OSError, Web3Exception, ValueError) as error:
            raise NodeUnavailable(
                f"{action}: the node at {redact_url(self.rpc_url)} did not answer ({type(error).__name__})"
            ) from None

    def head(self) -> int:
        """The latest block number."""
        return int(self._call("block number", lambda: self._w3().eth.block_number))

    def block_exists(self, number: int) -> bool:
        """Whether block ``number`` exists (not in the future of the chain)."""
        if number < 0:
            return False
        return number <= self.head()

    def has_code(self, address: str) -> bool:
        return len(self._call("code", lambda: self._w3().eth.get_code(to_checksum_address(address)))) > 0

    def eip1271_valid(self, address: str, digest: bytes, signature: bytes) -> bool:
        """Whether the contract at ``address`` answers ``isValidSignature(digest, signature)`` with 0x1626ba7e."""
        if not self.has_code(address):
            return False
        contract = self._w3().eth.contract(address=to_checksum_address(address), abi=_EIP1271_ABI)
        try:
            answer = self._call("isValidSignature", contract.functions.isValidSignature(digest, signature).call)
        except ContractLogicError:
            return False
        return bytes(answer) == EIP1271_MAGIC

    def votes_at(self, token: str, voter: str, snapshot: int | None, head: int) -> tuple[int, bool]:
        """erc20-votes: the voter's votes at block ``snapshot`` (None: latest), and whether that is final.

        ``getPastVotes(voter, snapshot)`` when the block is behind the head (final); otherwise
        ``getVotes(voter)`` at the head (not final: the block may still change). A revert reads 0.
        """
        contract = self._w3().eth.contract(address=to_checksum_address(token), abi=_VOTES_ABI)
        account = to_checksum_address(voter)
        try:
            if snapshot is not None and snapshot < head:
                return int(self._call("getPastVotes", contract.functions.getPastVotes(account, snapshot).call)), True
            block = head if snapshot is None else snapshot
            value = self._call("getVotes", lambda: contract.functions.getVotes(account).call(block_identifier=block))
            return int(value), False
        except ContractLogicError:
            return 0, snapshot is not None and snapshot < head

    def voting_power(
        self, strategies: Sequence[Mapping[str, Any]], voter: str, snapshot: int | None
    ) -> tuple[list[int], bool]:
        """Base-unit voting power per strategy (erc20-votes only; others count 0) and whether all of it is final."""
        head = self.head()
        powers, final = [], True
        for strategy in strategies:
            if strategy.get("name") != "erc20-votes":
                powers.append(0)
                continue
            value, is_final = self.votes_at(strategy["params"]["address"], voter, snapshot, head)
            powers.append(value)
            final = final and is_final
        return powers, final


def as_float(powers: Sequence[int], strategies: Sequence[Mapping[str, Any]]) -> list[float]:
    """Per-strategy voting power as the hub reports it: base units / 10**decimals (correctly rounded)."""
    return [
        int(p) / 10 ** int(s.get("params", {}).get("decimals", 18)) for p, s in zip(powers, strategies, strict=True)
    ]
