"""Price feeds: Chainlink's ``AggregatorV3Interface``, read and decoded with its compiled ABI.

A feed is checked when an analysis is requested (code at the address, ``latestRoundData`` and
``decimals`` answer and decode) and read when the analysis values losses. The answer is an
``int256``: zero or negative is what a broken oracle says, and it is returned as it is, for
the caller to treat as "no price" (an oracle failure is exactly when an incident happens).
"""

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_abi_to_4byte_selector

from chain.artifacts import load_artifact
from chain.errors import ChainError, RpcError
from chain.logs import RawRpc

FEED_ARTIFACT = "AggregatorV3Interface"


class NotAPriceFeed(ChainError):
    """An address has no code, or its ``latestRoundData``/``decimals`` revert or return something else."""

    def __init__(self, *, address: str, block: int, reason: str) -> None:
        super().__init__(f"{address} is not an AggregatorV3 price feed at block {block}: {reason}")
        self.address, self.block, self.reason = address, block, reason


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """``latestRoundData`` and ``decimals`` of a feed at a block; ``answer`` may be <= 0 (a broken feed)."""

    round_id: int
    answer: int
    updated_at: int
    decimals: int


@functools.cache
def _function(name: str) -> tuple[str, list[str]]:
    """The 0x selector and output types of one function of the feed interface, from its artifact."""
    entry = next(e for e in load_artifact(FEED_ARTIFACT).abi if e.get("type") == "function" and e["name"] == name)
    return "0x" + function_abi_to_4byte_selector(entry).hex(), [output["type"] for output in entry["outputs"]]


def read_feed(rpc: RawRpc, feed: str, block: int) -> FeedAnswer:
    """``latestRoundData()`` and ``decimals()`` of ``feed`` at ``block``.

    Raises ``NotAPriceFeed`` when the address has no code or either call reverts or returns
    something that does not decode; a node failure raises ``RpcUnavailable`` or ``RpcError``.
    """
    code = rpc.call("eth_getCode", [feed, hex(block)])
    if not isinstance(code, str) or code in ("0x", ""):
        raise NotAPriceFeed(address=feed, block=block, reason="no contract code at this address")
    names = ("latestRoundData", "decimals")
    replies = rpc.batch([("eth_call", [{"to": feed, "data": _function(name)[0]}, hex(block)]) for name in names])
    round_data, decimals = (
        _decoded(reply, feed=feed, block=block, name=name) for reply, name in zip(replies, names, strict=True)
    )
    round_id, answer, _started_at, updated_at, _answered_in = round_data
    return FeedAnswer(round_id=round_id, answer=answer, updated_at=updated_at, decimals=decimals[0])


def _decoded(reply: dict[str, Any], *, feed: str, block: int, name: str) -> tuple[Any, ...]:
    error = reply.get("error")
    if error is not None:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        # Nodes report reverts as code 3 (geth, anvil) or -32000/-32015 with "revert" in the text.
        if code == 3 or "revert" in message.lower():
            raise NotAPriceFeed(address=feed, block=block, reason=f"{name}() reverted ({message[:120]})")
        raise RpcError(f"eth_call {name}() on {feed} at block {block} failed: {message[:200]} (code {code})")
    result = reply.get("result")
    types = _function(name)[1]
    try:
        if not isinstance(result, str) or not result.startswith("0x"):
            raise DecodingError(f"not hex: {result!r}")
        return tuple(decode(types, bytes.fromhex(result[2:])))
    except (DecodingError, ValueError):
        returned = f"{(len(result) - 2) // 2} bytes" if isinstance(result, str) else repr(result)
        raise NotAPriceFeed(
            address=feed, block=block, reason=f"{name}() returned {returned}, not ({', '.join(types)})"
        ) from None
