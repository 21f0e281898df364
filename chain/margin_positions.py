"""Margin accounts at any block, rebuilt from the market's events, and the market as a position reader.

Every ``MarginMarket`` action ends with ``AccountUpdated`` carrying the account's full state, so
an account's state at block B is the data of its last such event at or before B. Rebuilding
every account is then one pass over paged raw ``eth_getLogs`` (``chain.logs.scan_raw_logs``)
that keeps the last data string per account topic: nothing is decoded until the scan ends, and
then once per account, not once per event. ``read_accounts_by_call`` asks ``accountOf`` at the
block instead (batched ``eth_call``s, what an archive node answers one account at a time); it is
the cross-check and the benchmark's peer. Addresses are lowercase 0x hex, as in ``chain/logs.py``.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from chain.balances import first_log_after
from chain.errors import NotAnErc20, ReplayMismatch, RpcError
from chain.logs import DEFAULT_CHUNK, RawRpc, collector_paused, prefetched, scan_raw_logs
from chain.margin import ACCOUNT_UPDATED, LIQUIDATED, PRICE_SCALE, MarginAccount, signed_word, value

ACCOUNT_OF = "0x8086b8ba"  # accountOf(address)
PRICE = "0xa035b1fe"  # price()
FUNDING_INDEX = "0x99be9632"  # fundingIndex()
ASSET = "0x38d52e0f"  # asset()
DEFAULT_CALL_BATCH = 200
CROSS_CHECK_SAMPLE = 200
# AccountUpdated: 7 data words (6 state words and the reason); Liquidated: 5.
_ACCOUNT_DATA_CHARS = 2 + 7 * 64
_LIQUIDATED_DATA_CHARS = 2 + 5 * 64


class PositionMismatch(ReplayMismatch):
    """Positions rebuilt from events disagree with the market's ``accountOf``: retrying will not help."""


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the market's valuation depends on at one block, besides the accounts."""

    chain_id: int
    block: int
    block_hash: str
    price: int  # 8 decimals
    funding_index: int  # 1e18 scale


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One ``Liquidated`` event; ``account`` and ``liquidator`` lowercase, amounts in base units."""

    block: int
    tx_hash: str
    log_index: int
    account: str
    liquidator: str
    price: int
    seized_collateral: int
    debt_repaid: int
    closed_size: int
    realized_pnl: int


def read_market_state(rpc: RawRpc, market: str, block: int) -> MarketState:
    """The market's ``price()`` and ``fundingIndex()`` at ``block``, with the block's hash and the chain id.

    A market whose price reverts (the feed answers zero or less) cannot be valued at that
    block: ``NotAnErc20`` says so, naming the block.
    """
    replies = rpc.batch(
        [
            ("eth_chainId", []),
            ("eth_getBlockByNumber", [hex(block), False]),
            ("eth_call", [{"to": market, "data": PRICE}, hex(block)]),
            ("eth_call", [{"to": market, "data": FUNDING_INDEX}, hex(block)]),
        ]
    )
    header = replies[1].get("result")
    if not isinstance(header, dict):
        raise RpcError(f"block {block} is not known to the node: {replies[1].get('error')}")
    return MarketState(
        chain_id=int(replies[0]["result"], 16),
        block=block,
        block_hash=header["hash"],
        price=_word(replies[2], market=market, block=block, what="price()"),
        funding_index=signed_word(_word(replies[3], market=market, block=block, what="fundingIndex()")),
    )


def scan_accounts(
    rpc: str | RawRpc, market: str, from_block: int, to_block: int, *, chunk: int = DEFAULT_CHUNK
) -> dict[str, MarginAccount]:
    """Every account the market's events name in ``from_block``..``to_block``, as it stood after ``to_block``.

    Complete only from the market's deployment (or an earlier block). Accounts emptied by a
    close or a liquidation stay in the result as zero entries.
    """
    last: dict[str, str] = {}
    for page in scan_raw_logs(rpc, market, [ACCOUNT_UPDATED], from_block, to_block, chunk=chunk):
        _keep_last(page.logs, last)
    return _accounts(last)


def scan_accounts_at_two_blocks(
    rpc: str | RawRpc,
    market: str,
    from_block: int,
    rollback_block: int,
    reference_block: int,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[dict[str, MarginAccount], dict[str, MarginAccount]]:
    """``scan_accounts`` after ``rollback_block`` and after ``reference_block``, in one pass over the logs."""
    if not from_block - 1 <= rollback_block <= reference_block:
        raise ValueError(
            f"need from_block - 1 <= rollback_block <= reference_block, got {from_block}, {rollback_block}"
        )
    last: dict[str, str] = {}
    before: dict[str, str] | None = dict(last) if rollback_block < from_block else None
    for page in scan_raw_logs(rpc, market, [ACCOUNT_UPDATED], from_block, reference_block, chunk=chunk):
        if before is None and page.to_block >= rollback_block:
            split = first_log_after(page.logs, rollback_block)
            _keep_last(page.logs[:split], last)
            before = dict(last)
            _keep_last(page.logs[split:], last)
        else:
            _keep_last(page.logs, last)
    assert before is not None  # the last page ends at reference_block >= rollback_block
    return _accounts(before), _accounts(last)


def _keep_last(logs: Iterable[Mapping], last: dict[str, str]) -> None:
    """The hot loop: each account's latest data string, keyed by its topic word (logs come in chain order)."""
    for log in logs:
        topics = log["topics"]
        data = log["data"]
        if len(topics) == 2 and len(data) == _ACCOUNT_DATA_CHARS and topics[0] == ACCOUNT_UPDATED:
            last[topics[1]] = data


def _accounts(last: Mapping[str, str]) -> dict[str, MarginAccount]:
    """Decode each kept data string once; keys become lowercase addresses."""
    with collector_paused():
        return {"0x" + topic[26:]: account_from_hex(data) for topic, data in last.items()}


_SIGN_BIT, _WORD = 2**255, 2**256


def account_from_hex(data: str) -> MarginAccount:
    """``MarginAccount.from_words`` straight from 0x hex (event data or ``accountOf``'s return).

    Parsing the six words out of the hex string skips a bytes copy: a third less per account.
    """
    size, funding = int(data[130:194], 16), int(data[322:386], 16)
    return MarginAccount(
        int(data[2:66], 16),
        int(data[66:130], 16),
        size - _WORD if size >= _SIGN_BIT else size,
        int(data[194:258], 16),
        int(data[258:322], 16),
        funding - _WORD if funding >= _SIGN_BIT else funding,
    )


def read_accounts_by_call(
    rpc: RawRpc, market: str, accounts: Iterable[str], block: int, *, batch_size: int = DEFAULT_CALL_BATCH
) -> dict[str, MarginAccount]:
    """``accountOf`` of each account at ``block``, by batched ``eth_call``s (keys lowercase).

    The batches are fetched on a thread one ahead of the decoding, the same overlap the log scan
    has. Reading a past block needs an archive node (anvil keeps its history).
    """
    unique = list(dict.fromkeys(account.lower() for account in accounts))
    groups = [unique[offset : offset + batch_size] for offset in range(0, len(unique), batch_size)]

    def fetched() -> Iterator[tuple[list[str], list[dict]]]:
        for group in groups:
            calls = [
                ("eth_call", [{"to": market, "data": ACCOUNT_OF + account[2:].rjust(64, "0")}, hex(block)])
                for account in group
            ]
            yield group, rpc.batch(calls)

    result: dict[str, MarginAccount] = {}
    for group, replies in prefetched(fetched()):
        for account, reply in zip(group, replies, strict=True):
            answer = reply.get("result")
            if not isinstance(answer, str) or len(answer) != 2 + 6 * 64:
                raise NotAnErc20(
                    address=market,
                    block=block,
                    reason=f"accountOf({account}) answered {str(reply)[:120]}: no margin market",
                )
            result[account] = account_from_hex(answer)
    return result


def scan_liquidations(
    rpc: str | RawRpc, market: str, from_block: int, to_block: int, *, chunk: int = DEFAULT_CHUNK
) -> list[Liquidation]:
    """The market's ``Liquidated`` events in ``from_block``..``to_block``, in chain order."""
    found: list[Liquidation] = []
    for page in scan_raw_logs(rpc, market, [LIQUIDATED], from_block, to_block, chunk=chunk):
        for log in page.logs:
            topics, data = log["topics"], log["data"]
            if len(topics) != 3 or len(data) != _LIQUIDATED_DATA_CHARS or topics[0] != LIQUIDATED:
                continue
            words = [int(data[2 + 64 * i : 66 + 64 * i], 16) for i in range(5)]
            found.append(
                Liquidation(
                    block=int(log["blockNumber"], 16),
                    tx_hash=log["transactionHash"],
                    log_index=int(log["logIndex"], 16),
                    account="0x" + topics[1][26:],
                    liquidator="0x" + topics[2][26:],
                    price=words[0],
                    seized_collateral=words[1],
                    debt_repaid=words[2],
                    closed_size=signed_word(words[3]),
                    realized_pnl=signed_word(words[4]),
                )
            )
    return found


def cross_check(
    rpc: RawRpc,
    market: str,
    accounts_at_block: Mapping[str, MarginAccount],
    block: int,
    *,
    sample: int = CROSS_CHECK_SAMPLE,
) -> int:
    """Compare rebuilt accounts with ``accountOf`` at ``block`` for a sample; how many were checked.

    The sample: the largest books (collateral + |size| + debt) for half, a spread of the rest by
    address order for the other half (every account when there are fewer). A market whose state
    moves without ``AccountUpdated``, or a replay of the wrong blocks, raises ``PositionMismatch``.
    """
    accounts = sorted(accounts_at_block)
    if len(accounts) > sample:
        largest = sorted(accounts, key=lambda a: -_book_size(accounts_at_block[a]))[: sample // 2]
        step = max(1, len(accounts) // (sample - len(largest)))
        accounts = sorted(set(largest) | set(accounts[::step]))
    read = read_accounts_by_call(rpc, market, accounts, block)
    wrong = [a for a in accounts if read[a] != accounts_at_block[a]]
    if wrong:
        first = wrong[0]
        raise PositionMismatch(
            f"{market}: positions rebuilt from AccountUpdated events differ from accountOf at block {block} for "
            f"{len(wrong)} of {len(accounts)} sampled accounts (first {first}: events {accounts_at_block[first]}, "
            f"accountOf {read[first]})"
        )
    return len(accounts)


def _book_size(account: MarginAccount) -> int:
    return account.collateral + abs(account.size) + account.debt


class MarginMarketPositions:
    """A margin market's accounts valued in its asset: the ``PositionReader`` named ``margin_market``.

    The analysed token is the market itself (it is also the credit token it lends). A position
    is the account's net value (``chain.margin.value`` at the block's price and funding index,
    USD with 6 decimals) in asset units, ``net * 1e8 // price``, and 0 when the account owes
    more than it holds (what the market would pay it out, never below nothing). Accounts come
    from the market's events from its deployment to the block, plus every account in
    ``balances``; a sample is cross-checked with ``accountOf`` before anything is valued.
    """

    name = "margin_market"

    def underlying(self, rpc: RawRpc, token: str, block: int) -> str:
        reply = rpc.batch([("eth_call", [{"to": token, "data": ASSET}, hex(block)])])[0]
        result = reply.get("result")
        if not isinstance(result, str) or len(result) != 66:
            raise NotAnErc20(
                address=token, block=block, reason="asset() did not return an address: not a margin market"
            )
        return "0x" + result[-40:]

    def positions(self, rpc: RawRpc, token: str, balances: Mapping[str, int], block: int) -> dict[str, int]:
        state = read_market_state(rpc, token, block)
        accounts = scan_accounts(rpc, token, deployment_block(rpc, token, block), block)
        cross_check(rpc, token, accounts, block)
        empty = MarginAccount()
        result = {}
        for address in set(accounts) | {account.lower() for account in balances}:
            net = value(accounts.get(address, empty), price=state.price, funding_index=state.funding_index).net_value
            result[address] = max(0, net) * PRICE_SCALE // state.price
        return result


def deployment_block(rpc: RawRpc, market: str, block: int) -> int:
    """The first block at which ``market`` has code (a binary search of ``eth_getCode``, ~25 calls on mainnet).

    Scanning from there rather than from block 0 saves a page request per ``chunk`` empty blocks.
    """
    if _code_at(rpc, market, block) in ("0x", ""):
        raise NotAnErc20(address=market, block=block, reason="no contract code at this address")
    low, high = 0, block
    while low < high:
        middle = (low + high) // 2
        if _code_at(rpc, market, middle) in ("0x", ""):
            low = middle + 1
        else:
            high = middle
    return low


def _code_at(rpc: RawRpc, address: str, block: int) -> str:
    code = rpc.call("eth_getCode", [address, hex(block)])
    return code if isinstance(code, str) else ""


def _word(reply: dict, *, market: str, block: int, what: str) -> int:
    answer = reply.get("result")
    if not isinstance(answer, str) or len(answer) != 66:
        raise NotAnErc20(address=market, block=block, reason=f"{what} answered {str(reply)[:160]}: not a margin market")
    return int(answer, 16)
