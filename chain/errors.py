"""One root for everything that goes wrong talking to a chain.

web3.py's own exceptions are caught at the boundary of ``chain/`` and re-raised as these, so
callers handle chain failures without importing web3.
"""

from collections.abc import Sequence
from typing import Any


class ChainError(Exception):
    """Root of the chain errors."""


class RpcUnavailable(ChainError):
    """The node did not answer, or answered with a transport or server error."""


class WrongChain(ChainError):
    """The node serves another chain than the one configured."""

    def __init__(self, *, expected: int, actual: int, url: str) -> None:
        super().__init__(f"the node at {url} reports chain id {actual}, not {expected}")
        self.expected, self.actual, self.url = expected, actual, url


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
