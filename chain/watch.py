"""The reads a monitor makes, batched over many blocks: headers, feed rounds, token and vault totals, outflows.

A monitor that was down checks every block it missed, so each read here takes a list of blocks
and sends one JSON-RPC batch (in groups of ``BATCH``) of ``eth_call``s, each at its block's
number. A contract-level failure at one block (no code, a revert, a reply that does not decode)
is returned as a ``CallFailed`` for that block, because to a monitor a feed that reverts is an
observation ("the oracle is broken"), not an error; a node failure raises ``RpcUnavailable`` or
``RpcError`` as everywhere in ``chain/``. Plain Python over ``RawRpc``, no Django.
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import function_abi_to_4byte_selector

from chain.artifacts import load_artifact
from chain.blocks import BlockMissing
from chain.errors import RpcError
from chain.logs import TRANSFER_TOPIC, RawRpc, address_topic

BATCH = 200  # requests in one JSON-RPC batch


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str  # lowercase 0x hex
    parent_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class CallFailed:
    """A contract call that did not give an answer at a block; ``reason`` says why, for people."""

    reason: str


@dataclass(frozen=True, slots=True)
class RoundData:
    """One ``latestRoundData``/``getRoundData`` answer of a Chainlink-style feed."""

    round_id: int
    answer: int  # int256: zero or negative is what a broken feed says
    started_at: int
    updated_at: int
    answered_in_round: int


@functools.cache
def _function(artifact: str, name: str) -> tuple[str, list[str], list[str]]:
    """The 0x selector, input types and output types of ``name`` in ``artifact``'s ABI."""
    entry = next(e for e in load_artifact(artifact).abi if e.get("type") == "function" and e["name"] == name)
    return (
        "0x" + function_abi_to_4byte_selector(entry).hex(),
        [p["type"] for p in entry["inputs"]],
        [p["type"] for p in entry["outputs"]],
    )


def block_headers(rpc: RawRpc, numbers: Iterable[int]) -> dict[int, BlockHeader]:
    """Number, hash, parent hash and timestamp of each block; ``BlockMissing`` for one past the head."""
    wanted = sorted(set(numbers))
    headers: dict[int, BlockHeader] = {}
    for offset in range(0, len(wanted), BATCH):
        group = wanted[offset : offset + BATCH]
        replies = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in group])
        for number, reply in zip(group, replies, strict=True):
            if "error" in reply:
                raise RpcError(f"eth_getBlockByNumber {number} failed: {str(reply['error'])[:200]}")
            block = reply.get("result")
            if block is None:
                raise BlockMissing(block=number)
            try:
                headers[number] = BlockHeader(
                    number=number,
                    hash=str(block["hash"]).lower(),
                    parent_hash=str(block["parentHash"]).lower(),
                    timestamp=int(block["timestamp"], 16),
                )
            except (KeyError, TypeError, ValueError):
                raise RpcError(f"eth_getBlockByNumber {number} answered {str(block)[:120]!r}") from None
    return headers


def call_at_blocks(
    rpc: RawRpc, calls: Sequence[tuple[str, str, int]], output_types: Sequence[str], *, what: str
) -> list[tuple[Any, ...] | CallFailed]:
    """``(to, data, block)`` calls, each decoded as ``output_types`` or a ``CallFailed``, in order."""
    results: list[tuple[Any, ...] | CallFailed] = []
    for offset in range(0, len(calls), BATCH):
        group = calls[offset : offset + BATCH]
        replies = rpc.batch([("eth_call", [{"to": to, "data": data}, hex(block)]) for to, data, block in group])
        results.extend(_decoded(reply, output_types, what=what) for reply in replies)
    return results


def _decoded(reply: dict[str, Any], types: Sequence[str], *, what: str) -> tuple[Any, ...] | CallFailed:
    error = reply.get("error")
    if error is not None:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        # Nodes report reverts as code 3 (geth, anvil) or -32000/-32015 with "revert" in the text.
        if code == 3 or "revert" in message.lower():
            return CallFailed(f"{what} reverted ({message[:120]})")
        raise RpcError(f"eth_call {what} failed: {message[:200]} (code {code})")
    result = reply.get("result")
    if result in ("0x", ""):
        return CallFailed(f"{what} returned nothing: no contract code at this address, or not this interface")
    try:
        if not isinstance(result, str) or not result.startswith("0x") or len(result) != 2 + 64 * len(types):
            raise DecodingError(f"unexpected reply {result!r}")
        return tuple(decode(list(types), bytes.fromhex(result[2:])))
    except (DecodingError, ValueError):
        returned = f"{(len(result) - 2) // 2} bytes" if isinstance(result, str) else repr(result)[:40]
        return CallFailed(f"{what} returned {returned}, not ({', '.join(types)})")


# --- price feeds (AggregatorV3Interface) ---


def latest_rounds(rpc: RawRpc, feed: str, blocks: Sequence[int]) -> dict[int, RoundData | CallFailed]:
    """``latestRoundData()`` of ``feed`` at each block."""
    selector, _, types = _function("AggregatorV3Interface", "latestRoundData")
    replies = call_at_blocks(rpc, [(feed, selector, b) for b in blocks], types, what=f"latestRoundData() on {feed}")
    return {block: _round(reply) for block, reply in zip(blocks, replies, strict=True)}


def rounds(rpc: RawRpc, feed: str, asks: Sequence[tuple[int, int]]) -> list[RoundData | CallFailed]:
    """``getRoundData(round_id)`` of ``feed`` for each ``(block, round_id)``."""
    selector, inputs, types = _function("AggregatorV3Interface", "getRoundData")
    calls = [(feed, selector + encode(inputs, [round_id]).hex(), block) for block, round_id in asks]
    return [_round(reply) for reply in call_at_blocks(rpc, calls, types, what=f"getRoundData() on {feed}")]


def feed_decimals(rpc: RawRpc, feed: str, blocks: Sequence[int]) -> dict[int, int | CallFailed]:
    """``decimals()`` of ``feed`` at each block."""
    selector, _, types = _function("AggregatorV3Interface", "decimals")
    replies = call_at_blocks(rpc, [(feed, selector, b) for b in blocks], types, what=f"decimals() on {feed}")
    return {b: r if isinstance(r, CallFailed) else int(r[0]) for b, r in zip(blocks, replies, strict=True)}


def _round(reply: tuple[Any, ...] | CallFailed) -> RoundData | CallFailed:
    if isinstance(reply, CallFailed):
        return reply
    round_id, answer, started_at, updated_at, answered_in_round = reply
    return RoundData(
        round_id=int(round_id),
        answer=int(answer),
        started_at=int(started_at),
        updated_at=int(updated_at),
        answered_in_round=int(answered_in_round),
    )


# --- ERC-20 tokens and vaults ---


def balances_at_blocks(rpc: RawRpc, token: str, account: str, blocks: Sequence[int]) -> dict[int, int | CallFailed]:
    """``token.balanceOf(account)`` at each block."""
    selector, inputs, types = _function("DemoAsset", "balanceOf")
    data = selector + encode(inputs, [account]).hex()
    replies = call_at_blocks(rpc, [(token, data, b) for b in blocks], types, what=f"balanceOf({account}) on {token}")
    return {b: r if isinstance(r, CallFailed) else int(r[0]) for b, r in zip(blocks, replies, strict=True)}


def total_supply_at(rpc: RawRpc, token: str, block: int) -> int | CallFailed:
    """``token.totalSupply()`` at ``block``."""
    selector, _, types = _function("DemoAsset", "totalSupply")
    (reply,) = call_at_blocks(rpc, [(token, selector, block)], types, what=f"totalSupply() on {token}")
    return reply if isinstance(reply, CallFailed) else int(reply[0])


@dataclass(frozen=True, slots=True)
class VaultTotals:
    """An ERC-4626-style vault at one block: its assets, its shares, and what the shares are worth."""

    total_assets: int
    total_supply: int
    supply_in_assets: int  # convertToAssets(totalSupply()): what the vault owes at its own price


def vault_totals(rpc: RawRpc, vault: str, blocks: Sequence[int]) -> dict[int, VaultTotals | CallFailed]:
    """``totalAssets()``, ``totalSupply()`` and ``convertToAssets(totalSupply())`` at each block (two batches)."""
    assets_sel, _, assets_types = _function("DemoVault", "totalAssets")
    supply_sel, _, _ = _function("DemoVault", "totalSupply")
    convert_sel, convert_inputs, convert_types = _function("DemoVault", "convertToAssets")
    calls = [(vault, sel, b) for b in blocks for sel in (assets_sel, supply_sel)]
    firsts = call_at_blocks(rpc, calls, assets_types, what=f"totalAssets()/totalSupply() on {vault}")
    partial: dict[int, tuple[int, int] | CallFailed] = {}
    for index, block in enumerate(blocks):
        assets, supply = firsts[2 * index], firsts[2 * index + 1]
        failed = assets if isinstance(assets, CallFailed) else supply if isinstance(supply, CallFailed) else None
        partial[block] = failed if failed is not None else (int(assets[0]), int(supply[0]))  # type: ignore[index]
    ready = [b for b in blocks if not isinstance(partial[b], CallFailed)]
    converts = call_at_blocks(
        rpc,
        [(vault, convert_sel + encode(convert_inputs, [partial[b][1]]).hex(), b) for b in ready],  # type: ignore[index]
        convert_types,
        what=f"convertToAssets() on {vault}",
    )
    out: dict[int, VaultTotals | CallFailed] = {b: partial[b] for b in blocks if isinstance(partial[b], CallFailed)}  # type: ignore[misc]
    for block, converted in zip(ready, converts, strict=True):
        assets, supply = partial[block]  # type: ignore[misc]
        out[block] = (
            converted
            if isinstance(converted, CallFailed)
            else VaultTotals(total_assets=assets, total_supply=supply, supply_in_assets=int(converted[0]))
        )
    return out


def outflows_by_block(rpc: RawRpc, token: str, source: str, from_block: int, to_block: int) -> dict[int, int]:
    """The sum of ``token`` Transfers out of ``source`` in each block of ``from_block``..``to_block``.

    Blocks without an outflow are absent. One ``eth_getLogs`` filtered on the sender's topic: a
    monitor's range is a catch-up window, hundreds of blocks at most, far below providers' limits.
    """
    if from_block > to_block:
        return {}
    logs = rpc.call(
        "eth_getLogs",
        [
            {
                "address": token,
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
                "topics": [TRANSFER_TOPIC, address_topic(source)],
            }
        ],
    )
    if not isinstance(logs, list):
        raise RpcError(f"eth_getLogs answered {str(logs)[:120]!r}, not a list")
    totals: dict[int, int] = {}
    for log in logs:
        # An ERC-20 Transfer has three topics and one data word (ERC-721's indexes the id: skipped).
        if len(log.get("topics", ())) != 3 or len(log.get("data", "")) != 66 or log.get("removed"):
            continue
        block = int(log["blockNumber"], 16)
        totals[block] = totals.get(block, 0) + int(log["data"], 16)
    return totals
