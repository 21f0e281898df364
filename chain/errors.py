"""One root for everything that goes wrong talking to a chain.

web3.py's own exceptions are caught at the boundary of ``chain/`` and re-raised as these, so
callers handle chain failures without importing web3.
"""

from collections.abc import Sequence
from typing import Any

from chain.redaction import redact_url


class ChainError(Exception):
    """Root of the chain errors."""


class RpcUnavailable(ChainError):
    """The node did not answer, or answered with a transport or server error."""


class WrongChain(ChainError):
    """The node serves another chain than the one configured."""

    def __init__(self, *, expected: int, actual: int, url: str) -> None:
        # The URL may carry an API key: only its scheme, host and port go into the message.
        super().__init__(f"the node at {redact_url(url)} reports chain id {actual}, not {expected}")
        self.expected, self.actual, self.url = expected, actual, redact_url(url)


class RangeTooLarge(ChainError):
    """The node refused a log query for returning too much or taking too long."""


class ToolMissing(ChainError):
    """A local tool (node, anvil) is not installed."""


class KeyMaterialError(ChainError):
    """A private key or keystore could not be loaded."""


class Reverted(ChainError):
    """A call or transaction reverted; ``error`` names the custom error when it is known."""

    def __init__(self, error: str, args: Sequence[Any] = (), *, tx_hash: str | None = None) -> None:
        shown = f"{error}({', '.join(map(str, args))})" if args else error
        super().__init__(f"reverted: {shown}" + (f" in {tx_hash}" if tx_hash else ""))
        self.error, self.args_, self.tx_hash = error, tuple(args), tx_hash


class RpcError(ChainError):
    """The node answered with a JSON-RPC error that retrying will not fix (bad parameters, unknown method)."""


class NotAnErc20(ChainError):
    """An address has no code, or its ``totalSupply``/``balanceOf`` calls revert or return no uint256."""

    def __init__(self, *, address: str, block: int, reason: str) -> None:
        super().__init__(f"{address} is not an ERC-20 token at block {block}: {reason}")
        self.address, self.block, self.reason = address, block, reason


class NegativeBalance(ChainError):
    """Replaying Transfer logs left an account below zero.

    Logs are missing (a replay that starts after the token's first transfer without a
    starting snapshot), or the token changes balances without Transfer events (rebasing).
    """

    def __init__(self, *, token: str, account: str, balance: int, block: int) -> None:
        super().__init__(
            f"replaying {token}'s Transfer logs to block {block} leaves {account} at {balance}: "
            "logs are missing (start the replay at the token's deployment, or pass the balances at "
            "from_block - 1) or the token changes balances without Transfer events"
        )
        self.token, self.account, self.balance, self.block = token, account, balance, block


class ReplayMismatch(ChainError):
    """Balances replayed from Transfer logs disagree with ``balanceOf``: retrying will not help."""
