"""Token balances at past blocks: replayed from Transfer logs, or read with ``balanceOf``.

Replaying answers "who held what at block N" for every holder at once, which an archive
``balanceOf`` per account cannot do without knowing the holders. Balances are keyed by
lowercase 0x address (see ``chain/logs.py``). The zero address is where mints come from
and burns go, not an account: it never appears in a result. Accounts the replay saw whose
balance is 0 stay in the result, so the keys are "every account that ever held or moved
the token in the range".

The replay trusts the token: a rebasing token (balances change without Transfer events)
replays wrong, and an account left below zero raises ``NegativeBalance``.
"""

from collections.abc import Iterable, Mapping

from eth_utils import to_checksum_address
from web3 import Web3

from chain.errors import NegativeBalance, NotAnErc20, RpcError
from chain.logs import (
    DEFAULT_CHUNK,
    ZERO_ADDRESS,
    Progress,
    RawRpc,
    accumulate_balances_by_topic,
    address_topic,
    balances_by_address,
    scan_raw_transfers,
)

BALANCE_OF = "0x70a08231"  # balanceOf(address)
TOTAL_SUPPLY = "0x18160ddd"  # totalSupply()
DECIMALS = "0x313ce567"  # decimals()
DEFAULT_CALL_BATCH = 200


def balances_at(
    url: str | RawRpc,
    token: str,
    block: int,
    *,
    from_block: int = 0,
    start: Mapping[str, int] | None = None,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Progress | None = None,
) -> dict[str, int]:
    """Every account's balance of ``token`` after ``block``, replayed from its Transfer logs.

    The replay covers ``from_block``..``block``. It begins from nothing, which is right
    only when ``from_block`` is at or before the token's first transfer, or from ``start``:
    the balances after block ``from_block - 1`` (a previous result, to continue a replay).
    """
    by_topic = _starting(start)
    for page in scan_raw_transfers(url, token, from_block, block, chunk=chunk, on_progress=on_progress):
        accumulate_balances_by_topic(page.logs, by_topic)
    return settled_balances(balances_by_address(by_topic), token=token, block=block)


def balances_at_two_blocks(
    url: str | RawRpc,
    token: str,
    rollback_block: int,
    reference_block: int,
    *,
    from_block: int = 0,
    start: Mapping[str, int] | None = None,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Progress | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """The balances after ``rollback_block`` and after ``reference_block``, in one pass over the logs.

    The replay runs to ``reference_block`` and copies the balances when it passes
    ``rollback_block``. ``from_block`` and ``start`` mean what they mean for ``balances_at``;
    ``from_block - 1 <= rollback_block <= reference_block``.
    """
    if not from_block - 1 <= rollback_block <= reference_block:
        raise ValueError(
            f"need from_block - 1 <= rollback_block <= reference_block, got {from_block} - 1, "
            f"{rollback_block}, {reference_block}"
        )
    # Keyed by topic word while scanning (the cheap key), by address in the results.
    by_topic = _starting(start)
    before = balances_by_address(by_topic) if rollback_block < from_block else None
    for page in scan_raw_transfers(url, token, from_block, reference_block, chunk=chunk, on_progress=on_progress):
        if before is None and page.to_block >= rollback_block:
            split = first_log_after(page.logs, rollback_block)
            accumulate_balances_by_topic(page.logs[:split], by_topic)
            before = balances_by_address(by_topic)
            accumulate_balances_by_topic(page.logs[split:], by_topic)
        else:
            accumulate_balances_by_topic(page.logs, by_topic)
    assert before is not None  # the last page ends at reference_block >= rollback_block
    after = balances_by_address(by_topic)
    return settled_balances(before, token=token, block=rollback_block), settled_balances(
        after, token=token, block=reference_block
    )


def read_balances(
    w3_or_url: Web3 | str | RawRpc,
    token: str,
    accounts: Iterable[str],
    block: int,
    *,
    batch_size: int = DEFAULT_CALL_BATCH,
) -> dict[str, int]:
    """``balanceOf`` of each account at ``block``, by batched ``eth_call``s; keys are lowercase.

    Reading a past block needs an archive node (anvil keeps its history). A call that
    reverts or returns no uint256 raises ``NotAnErc20``.
    """
    rpc, owned = _client(w3_or_url)
    try:
        unique = list(dict.fromkeys(account.lower() for account in accounts))
        balances: dict[str, int] = {}
        for offset in range(0, len(unique), batch_size):
            group = unique[offset : offset + batch_size]
            calls = [
                ("eth_call", [{"to": token, "data": BALANCE_OF + account[2:].rjust(64, "0")}, hex(block)])
                for account in group
            ]
            for account, reply in zip(group, rpc.batch(calls), strict=True):
                balances[account] = _uint256(reply, token=token, block=block, what=f"balanceOf({account})")
        return balances
    finally:
        if owned:
            rpc.close()


def check_erc20(url: str | RawRpc, token: str, block: int) -> None:
    """Raise ``NotAnErc20`` unless ``token`` has code at ``block`` and answers ``totalSupply`` and ``balanceOf``."""
    rpc, owned = _client(url)
    try:
        code = rpc.call("eth_getCode", [token, hex(block)])
        if not isinstance(code, str) or code in ("0x", ""):
            raise NotAnErc20(address=_shown(token), block=block, reason="no contract code at this address")
        probe = ZERO_ADDRESS[2:].rjust(64, "0")
        replies = rpc.batch(
            [
                ("eth_call", [{"to": token, "data": TOTAL_SUPPLY}, hex(block)]),
                ("eth_call", [{"to": token, "data": BALANCE_OF + probe}, hex(block)]),
            ]
        )
        _uint256(replies[0], token=token, block=block, what="totalSupply()")
        _uint256(replies[1], token=token, block=block, what="balanceOf(address)")
    finally:
        if owned:
            rpc.close()


def read_decimals(url: str | RawRpc, token: str, block: int) -> int:
    """``token``'s ``decimals()`` at ``block``; ``NotAnErc20`` when it has no code, reverts or
    answers something other than a uint8."""
    rpc, owned = _client(url)
    try:
        reply = rpc.batch([("eth_call", [{"to": token, "data": DECIMALS}, hex(block)])])[0]
    finally:
        if owned:
            rpc.close()
    error = reply.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        raise NotAnErc20(address=_shown(token), block=block, reason=f"decimals() reverted ({str(message)[:160]})")
    answer = reply.get("result")
    if answer in (None, "0x", ""):
        raise NotAnErc20(address=_shown(token), block=block, reason="no contract at this address")
    if not isinstance(answer, str) or len(answer) != 66:
        raise NotAnErc20(address=_shown(token), block=block, reason=f"decimals() answered {str(answer)[:80]}")
    value = int(answer, 16)
    if value > 255:
        raise NotAnErc20(address=_shown(token), block=block, reason=f"decimals() answered {value}, not a uint8")
    return value


def token_decimals(rpc: RawRpc, tokens: Iterable[str], block: int) -> dict[str, int]:
    """Each token's ``decimals()`` at ``block`` in one batch, 0 for a token without it (it is
    optional in ERC-20)."""
    tokens = list(tokens)
    replies = rpc.batch([("eth_call", [{"to": token, "data": DECIMALS}, hex(block)]) for token in tokens])
    return {
        token: int(reply["result"], 16) if reply.get("result") not in (None, "0x") else 0
        for token, reply in zip(tokens, replies, strict=True)
    }


def _client(w3_or_url: Web3 | str | RawRpc) -> tuple[RawRpc, bool]:
    if isinstance(w3_or_url, RawRpc):
        return w3_or_url, False
    if isinstance(w3_or_url, Web3):
        return RawRpc(str(w3_or_url.provider.endpoint_uri)), True  # type: ignore[attr-defined]
    return RawRpc(w3_or_url), True


def _uint256(reply: dict, *, token: str, block: int, what: str) -> int:
    error = reply.get("error")
    if error is not None:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        # Nodes report reverts as code 3 (geth, anvil) or -32000/-32015 with "revert" in the text.
        if code == 3 or "revert" in message.lower():
            raise NotAnErc20(address=_shown(token), block=block, reason=f"{what} reverted ({message[:120]})")
        raise RpcError(f"eth_call {what} on {_shown(token)} at block {block} failed: {message[:200]} (code {code})")
    result = reply.get("result")
    if not isinstance(result, str) or len(result) != 66:
        returned = f"{(len(result) - 2) // 2} bytes" if isinstance(result, str) else repr(result)
        raise NotAnErc20(address=_shown(token), block=block, reason=f"{what} returned {returned}, not one uint256")
    return int(result, 16)


def _starting(start: Mapping[str, int] | None) -> dict[str, int]:
    """``start`` (by address, any case) keyed by topic word."""
    return {address_topic(account): amount for account, amount in start.items()} if start else {}


def first_log_after(logs: list[dict], block: int) -> int:
    """Index of the first log of a block after ``block`` (logs are in block order)."""
    low, high = 0, len(logs)
    while low < high:
        middle = (low + high) // 2
        if int(logs[middle]["blockNumber"], 16) <= block:
            low = middle + 1
        else:
            high = middle
    return low


def settled_balances(balances: dict[str, int], *, token: str, block: int) -> dict[str, int]:
    """``balances`` without the zero address (not an account), after checking no account is below zero."""
    balances.pop(ZERO_ADDRESS, None)
    if min(balances.values(), default=0) < 0:
        account, amount = next((account, amount) for account, amount in balances.items() if amount < 0)
        raise NegativeBalance(token=_shown(token), account=_shown(account), balance=amount, block=block)
    return balances


def _shown(address: str) -> str:
    try:
        return to_checksum_address(address)
    except ValueError:
        return address
