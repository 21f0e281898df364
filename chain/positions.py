"""Positions beyond plain balances: what an account's tokens are worth in an underlying asset.

A reader turns balances of one token at a block into positions (amounts of the underlying),
using the protocol's own conversion at that block, so a position is what the protocol would
have paid out. Readers are chosen by name (``READERS``) when an analysis is requested.
"""

from collections.abc import Mapping
from typing import Protocol

from eth_abi import encode

from chain.errors import NotAnErc20
from chain.logs import RawRpc
from chain.margin_positions import MarginMarketPositions

CONVERT_TO_ASSETS = "0x07a2d13a"  # convertToAssets(uint256)
ASSET = "0x38d52e0f"  # asset()
CALLS_PER_BATCH = 200


class PositionReader(Protocol):
    name: str

    def underlying(self, rpc: RawRpc, token: str, block: int) -> str:
        """The asset positions are counted in (lowercase address)."""
        ...

    def positions(self, rpc: RawRpc, token: str, balances: Mapping[str, int], block: int) -> dict[str, int]:
        """Each account's position in the underlying at ``block``; zero balances map to zero."""
        ...


class VaultShares:
    """ERC-4626-style vault shares: a position is ``convertToAssets(shares)`` at the block.

    Calling the vault's own conversion (batched ``eth_call``s) rather than recomputing
    ``shares * totalAssets / totalSupply`` keeps its rounding and any fee logic exactly.
    """

    name = "vault_shares"

    def underlying(self, rpc: RawRpc, token: str, block: int) -> str:
        reply = rpc.batch([("eth_call", [{"to": token, "data": ASSET}, hex(block)])])[0]
        result = reply.get("result")
        if not isinstance(result, str) or len(result) != 66:
            raise NotAnErc20(address=token, block=block, reason="asset() did not return an address: not a vault")
        return "0x" + result[-40:]

    def positions(self, rpc: RawRpc, token: str, balances: Mapping[str, int], block: int) -> dict[str, int]:
        accounts = [account for account, shares in balances.items() if shares > 0]
        result = {account: 0 for account, shares in balances.items() if shares == 0}
        for offset in range(0, len(accounts), CALLS_PER_BATCH):
            group = accounts[offset : offset + CALLS_PER_BATCH]
            calls = [
                (
                    "eth_call",
                    [{"to": token, "data": CONVERT_TO_ASSETS + encode(["uint256"], [balances[a]]).hex()}, hex(block)],
                )
                for a in group
            ]
            for account, reply in zip(group, rpc.batch(calls), strict=True):
                value = reply.get("result")
                if not isinstance(value, str) or len(value) != 66:
                    raise NotAnErc20(
                        address=token, block=block, reason=f"convertToAssets failed for {account}: {reply.get('error')}"
                    )
                result[account] = int(value, 16)
        return result


READERS: dict[str, PositionReader] = {
    VaultShares.name: VaultShares(),
    MarginMarketPositions.name: MarginMarketPositions(),
}
