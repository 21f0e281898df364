"""Which chain a node serves and which blocks it has: the identity an analysis is checked against.

A block number names different blocks on different chains, and on the same chain before and
after a reorg (or on a dev chain restarted from scratch); its hash names one block. Results
built from a chain are recorded with the hashes of the blocks they used and checked against
the node's before they are trusted again.
"""

from collections.abc import Iterable

from chain.errors import ChainError, RpcError
from chain.logs import RawRpc


class BlockMissing(ChainError):
    """The node has no block with this number (past its head)."""

    def __init__(self, *, block: int) -> None:
        super().__init__(f"the node has no block {block}")
        self.block = block


def node_chain_id(rpc: RawRpc) -> int:
    """``eth_chainId`` as an int."""
    reply = rpc.call("eth_chainId", [])
    try:
        return int(reply, 16)
    except (TypeError, ValueError):
        raise RpcError(f"eth_chainId answered {str(reply)[:80]!r}, not a hex number") from None


def head_block(rpc: RawRpc) -> int:
    """``eth_blockNumber`` as an int."""
    reply = rpc.call("eth_blockNumber", [])
    try:
        return int(reply, 16)
    except (TypeError, ValueError):
        raise RpcError(f"eth_blockNumber answered {str(reply)[:80]!r}, not a hex number") from None


def block_hashes(rpc: RawRpc, blocks: Iterable[int]) -> dict[int, str]:
    """The hash (lowercase 0x-hex) of each block, in one batch; ``BlockMissing`` for a block the node lacks."""
    numbers = sorted(set(blocks))
    replies = rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in numbers])
    hashes = {}
    for number, reply in zip(numbers, replies, strict=True):
        if "error" in reply:
            raise RpcError(f"eth_getBlockByNumber {number} failed: {str(reply['error'])[:200]}")
        block = reply.get("result")
        if block is None:
            raise BlockMissing(block=number)
        if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
            raise RpcError(f"eth_getBlockByNumber {number} answered {str(block)[:120]!r}")
        hashes[number] = block["hash"].lower()
    return hashes
