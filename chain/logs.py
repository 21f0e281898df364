"""Scanning ERC-20 Transfer logs fast: raw ``eth_getLogs`` pages, decoded by slicing hex.

web3.py's event API decodes every log through eth-abi, checksums both addresses (a keccak
each) and wraps the result in AttributeDicts: hundreds of microseconds a log. Replaying a
token with millions of transfers should cost little more than parsing the node's JSON, so
this module posts raw JSON-RPC over one ``requests.Session`` and reads the fields straight
out of the parsed JSON.

Addresses are lowercase ``0x`` hex everywhere here and in ``chain/balances.py``. The
execution-apis schema makes topics (``hash32``) lowercase hex, so slicing a topic already
gives the key, with no conversion per log; ``chain.artifacts.checksum`` converts at the edges.
The one exception is the hottest loop, ``accumulate_balances_by_topic``, which keys balances
by the topic word itself and leaves the slicing to one conversion at the end.

Only Transfer logs with exactly three topics (signature, from, to) and one 32-byte data word
are ERC-20 transfers. ERC-721's ``Transfer`` has four topics (the token id is indexed) and
a few old tokens index the amount as well; both are skipped, by every function here.

The paging is not Transfer's own: ``scan_raw_logs`` reads any events of any contracts the same
way (the vote indexer's ``VoteCast`` and ``PlanApproved``, ``chain/votes.py``), and
``collector_paused`` and ``prefetched`` serve their decoders too.

A scan does its HTTP on a background thread, one request ahead: the node builds page n + 1
while the caller's thread parses and applies page n. The parsing stays on the caller's
thread because it holds the GIL either way; what overlaps is the node's work and ours.
"""

import contextlib
import gc
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import urllib3
from eth_utils import keccak

from chain.errors import RangeTooLarge, RpcError, RpcUnavailable
from chain.redaction import redact, redact_url

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
ZERO_ADDRESS = "0x" + "0" * 40

# Blocks asked for in one eth_getLogs before any refusal; providers commonly allow 2,000.
DEFAULT_CHUNK = 2_000
# A reply larger than this makes the next range proportionally smaller, which keeps memory
# bounded on nodes that set no limit of their own (a Transfer log is 500-650 bytes of JSON).
DEFAULT_PAGE_BYTES = 16 * 2**20
# Successful pages in a row before a shrunken range doubles again.
DEFAULT_GROW_AFTER = 4

# (blocks done since from_block, logs done in this run, last block done)
Progress = Callable[[int, int, int], None]

T = TypeVar("T")

_HEADERS = {"Content-Type": "application/json"}
# A provider's quota, not our range: wait and ask again.
_RATE_LIMITED = re.compile(r"rate.?limit|too many requests|request count|requests per|exceeded.*quota|capacity", re.I)
# How providers say a log range returns too much or takes too long: Infura and geth forks
# "query returned more than 10000 results", Alchemy "Log response size exceeded", QuickNode
# "eth_getLogs is limited to a 10,000 range", BSC "exceed maximum block range", Erigon and
# others "query timeout exceeded", "block range is too wide", "limit exceeded" (-32005).
_REFUSED = re.compile(r"more than|too many|too large|too big|too wide|exceed|limit|response size", re.I)
_TIMED_OUT = re.compile(r"timeout|timed out", re.I)
# A reply this big that opens with "result": [ (after jsonrpc and id) is a page of logs; it is
# parsed on the caller's thread. Smaller or other replies are parsed and checked at once.
_PARSE_HERE_BELOW = 4_096
_RESULT_FIRST = re.compile(rb'\{\s*(?:"(?:jsonrpc|id)"\s*:\s*(?:"[^"]*"|\d+)\s*,\s*){0,2}"result"\s*:\s*\[')


@dataclass(frozen=True, slots=True)
class TransferLog:
    """One ERC-20 Transfer; ``token``, ``sender`` and ``recipient`` are lowercase 0x hex."""

    block: int
    log_index: int
    tx_hash: str
    token: str
    sender: str
    recipient: str
    amount: int


@dataclass(frozen=True, slots=True)
class LogPage:
    """The decoded Transfers of blocks ``from_block``..``to_block`` (inclusive), in chain order."""

    from_block: int
    to_block: int
    logs: list[TransferLog]


@dataclass(frozen=True, slots=True)
class RawLogPage:
    """The logs of blocks ``from_block``..``to_block`` as the node sent them (JSON dicts)."""

    from_block: int
    to_block: int
    logs: list[dict[str, Any]]


class _Transient(Exception):
    """Worth asking again after a pause: connection refused or reset, HTTP 429 or 5xx, a quota."""


class _Refused(Exception):
    """The node refused a log range; ``ambiguous`` when it could also be a struggling node (timeouts, gateways)."""

    def __init__(self, reason: str, *, ambiguous: bool) -> None:
        super().__init__(reason)
        self.ambiguous = ambiguous


class RawRpc:
    """JSON-RPC to one node over one ``requests.Session``, without web3.py's formatters.

    Transient failures (connection refused or reset, HTTP 429 and 5xx, rate-limit errors)
    are retried ``retries`` times, waiting ``backoff`` seconds and doubling, then raise
    ``RpcUnavailable``; an error retrying cannot fix raises ``RpcError``. No other
    exception leaves it. One thread at a time: a scan's fetching thread owns it while the
    scan runs.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60,
        retries: int = 4,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise RpcUnavailable(f"{redact_url(url)!r} is not an http(s) JSON-RPC URL")
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff
        self._session = session or requests.Session()

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """The ``result`` of one request."""
        payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        reply = self._exchange(payload, method=method, refusable=False)
        if not isinstance(reply, dict) or "result" not in reply:
            raise RpcError(f"{method} at {redact_url(self.url)} answered without a result: {str(reply)[:160]}")
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch; the replies in the order of ``calls``, each with ``result`` or ``error``."""
        if not calls:
            return []
        requests_ = [
            {"jsonrpc": "2.0", "id": index, "method": method, "params": list(params)}
            for index, (method, params) in enumerate(calls)
        ]
        method = f"batch of {len(calls)} {calls[0][0]}"
        reply = self._exchange(json.dumps(requests_).encode(), method=method, refusable=False)
        if not isinstance(reply, list) or len(reply) != len(calls):
            raise RpcError(f"{method} at {redact_url(self.url)} answered {str(reply)[:160]}")
        # Batch replies may come in any order.
        by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
        if set(by_id) != set(range(len(calls))):
            raise RpcError(f"{method} at {redact_url(self.url)}: the replies' ids do not match the requests'")
        return [by_id[index] for index in range(len(calls))]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "RawRpc":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _exchange(self, payload: bytes, *, method: str, refusable: bool) -> Any:
        """The parsed reply to ``payload``, after retrying transient failures.

        With ``refusable``, replies that mean "this log range is too much" raise ``_Refused``
        at once instead of being retried.
        """
        return self._retrying(
            lambda: self._checked(*self._post(payload, refusable=refusable), method, refusable), method=method
        )

    def _fetch_result(self, payload: bytes, *, method: str) -> bytes:
        """The unparsed reply to a refusable request whose success carries a large ``result``.

        A big reply that starts like a result is handed back unparsed, so that parsing it (on
        the caller's thread) overlaps the node's work on the next request; anything else is
        parsed here and checked as ``_exchange`` checks it.
        """

        def attempt() -> bytes:
            status, content = self._post(payload, refusable=True)
            if status != 200 or len(content) < _PARSE_HERE_BELOW or not _RESULT_FIRST.match(content):
                self._checked(status, content, method, True)
            return content

        return self._retrying(attempt, method=method)

    def _retrying(self, attempt: Callable[[], T], *, method: str) -> T:
        for number in range(self.retries + 1):
            try:
                return attempt()
            except _Transient as failure:
                last = failure
            if number < self.retries:
                time.sleep(self.backoff * 2**number)
        # ``last`` may quote the URL's path (``Max retries exceeded with url: /v3/KEY``).
        last_shown = redact(str(last), secrets=[self.url])
        raise RpcUnavailable(f"{method} at {redact_url(self.url)} failed {self.retries + 1} times, last: {last_shown}")

    def _post(self, payload: bytes, *, refusable: bool) -> tuple[int, bytes]:
        """HTTP status and body; transport failures and refusing statuses raise ``_Transient``/``_Refused``."""
        try:
            with self._session.post(
                self.url, data=payload, headers=_HEADERS, timeout=self.timeout, stream=True
            ) as response:
                status = response.status_code
                if refusable and status in (413, 502, 503, 504):
                    raise _Refused(f"HTTP {status}", ambiguous=status != 413)
                if status == 429 or status >= 500:
                    raise _Transient(f"HTTP {status}")
                # The body in one read: ``response.content`` reads 10 kB at a time, and while a
                # scan's caller parses the previous page each piece waits for the GIL.
                return status, response.raw.read(decode_content=True)
        except requests.ConnectTimeout as error:
            raise _Transient(_short(error)) from None
        except (requests.Timeout, requests.ConnectionError, urllib3.exceptions.HTTPError, OSError) as error:
            if isinstance(error, requests.Timeout | urllib3.exceptions.TimeoutError) or _TIMED_OUT.search(str(error)):
                if refusable:
                    raise _Refused(f"no reply within {self.timeout:g} s", ambiguous=True) from None
                raise _Transient(f"no reply within {self.timeout:g} s") from None
            raise _Transient(_short(error)) from None
        except requests.RequestException as error:
            raise _Transient(_short(error)) from None

    def _checked(self, status: int, content: bytes, method: str, refusable: bool) -> Any:
        """The parsed reply; JSON-RPC errors raise ``_Transient``, ``_Refused`` or ``RpcError``."""
        try:
            reply = json.loads(content)
        except ValueError:
            if status == 200:
                raise _Transient("the reply is not JSON (cut short?)") from None
            raise RpcError(f"{method} at {redact_url(self.url)}: HTTP {status} {content[:160]!r}") from None

        error = reply.get("error") if isinstance(reply, dict) else None
        if error is not None:
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            if _RATE_LIMITED.search(message):
                raise _Transient(message[:160])
            if refusable and (_REFUSED.search(message) or _TIMED_OUT.search(message)):
                raise _Refused(message[:300], ambiguous=bool(_TIMED_OUT.search(message)))
            if _TIMED_OUT.search(message):
                raise _Transient(message[:160])
            code = error.get("code") if isinstance(error, dict) else None
            raise RpcError(f"{method} at {redact_url(self.url)} failed: {message[:300]} (code {code})")
        if status != 200:
            raise RpcError(f"{method} at {redact_url(self.url)}: HTTP {status}")
        return reply


def _short(error: BaseException) -> str:
    text = str(error)
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed by the node"
    return (text.splitlines()[0] if text else type(error).__name__)[:160]


def decode_transfers(logs: Iterable[Mapping[str, Any]]) -> list[TransferLog]:
    """``TransferLog``s for the ERC-20-shaped logs among ``logs`` (raw ``eth_getLogs`` dicts)."""
    decoded: list[TransferLog] = []
    append = decoded.append
    with collector_paused():
        for log in logs:
            topics = log["topics"]
            data = log["data"]
            if len(topics) != 3 or len(data) != 66 or topics[0] != TRANSFER_TOPIC:
                continue
            append(
                TransferLog(
                    int(log["blockNumber"], 16),
                    int(log["logIndex"], 16),
                    log["transactionHash"],
                    log["address"].lower(),
                    "0x" + topics[1][26:],
                    "0x" + topics[2][26:],
                    int(data, 16),
                )
            )
    return decoded


def accumulate_balances(logs: Iterable[Mapping[str, Any]], balances: dict[str, int]) -> int:
    """Apply raw Transfer logs of ONE token to ``balances`` (lowercase address -> amount), in place.

    The fast path: no ``TransferLog`` per log. The zero address goes negative by the minted
    supply (and back up by burns); callers drop it. Returns how many logs were applied; the
    others were not ERC-20 shaped and were skipped. A long replay is cheaper still with
    ``accumulate_balances_by_topic`` and one conversion at the end.
    """
    by_topic: dict[str, int] = {}
    applied = accumulate_balances_by_topic(logs, by_topic)
    get = balances.get
    for topic, delta in by_topic.items():
        address = "0x" + topic[26:]
        balances[address] = get(address, 0) + delta
    return applied


def accumulate_balances_by_topic(logs: Iterable[Mapping[str, Any]], by_topic: dict[str, int]) -> int:
    """``accumulate_balances`` keyed by each account's topic word, exactly as the logs carry it.

    The hottest loop of a replay: taking the topic strings as they are saves slicing two
    addresses out of every log, about a third of the loop. ``balances_by_address`` converts
    the keys, once; ``address_topic`` goes the other way.
    """
    get = by_topic.get
    applied = 0
    for log in logs:
        topics = log["topics"]
        data = log["data"]
        if len(topics) != 3 or len(data) != 66 or topics[0] != TRANSFER_TOPIC:
            continue
        _, sender, recipient = topics
        amount = int(data, 16)
        by_topic[sender] = get(sender, 0) - amount
        by_topic[recipient] = get(recipient, 0) + amount
        applied += 1
    return applied


def address_topic(address: str) -> str:
    """The topic word an indexed ``address`` is logged as: 12 zero bytes, then the address, lowercase."""
    return "0x" + "0" * 24 + address[2:].lower()


def balances_by_address(by_topic: Mapping[str, int]) -> dict[str, int]:
    """Balances keyed by topic word (``accumulate_balances_by_topic``) keyed by lowercase address.

    Solidity always logs an address with the upper 12 bytes clear; should a token log dirty
    ones, both words are the same account and their amounts are summed.
    """
    balances: dict[str, int] = {}
    get = balances.get
    for topic, amount in by_topic.items():
        address = "0x" + topic[26:]
        balances[address] = get(address, 0) + amount
    return balances


def scan_raw_transfers(
    rpc: str | RawRpc,
    tokens: str | Sequence[str],
    from_block: int,
    to_block: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    page_bytes: int | None = DEFAULT_PAGE_BYTES,
    grow_after: int = DEFAULT_GROW_AFTER,
    start_after: int | None = None,
    on_progress: Progress | None = None,
    prefetch: bool = True,
) -> Iterator[RawLogPage]:
    """Pages of the Transfer logs of ``tokens`` in blocks ``from_block``..``to_block``: ``scan_raw_logs``."""
    if not isinstance(tokens, str) and not tokens:
        raise ValueError("no token to scan")
    yield from scan_raw_logs(
        rpc,
        tokens,
        [TRANSFER_TOPIC],
        from_block,
        to_block,
        chunk=chunk,
        page_bytes=page_bytes,
        grow_after=grow_after,
        start_after=start_after,
        on_progress=on_progress,
        prefetch=prefetch,
    )


def scan_raw_logs(
    rpc: str | RawRpc,
    addresses: str | Sequence[str],
    topics0: Sequence[str],
    from_block: int,
    to_block: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    page_bytes: int | None = DEFAULT_PAGE_BYTES,
    grow_after: int = DEFAULT_GROW_AFTER,
    start_after: int | None = None,
    on_progress: Progress | None = None,
    prefetch: bool = True,
) -> Iterator[RawLogPage]:
    """Pages of the logs of ``addresses`` whose topic0 is one of ``topics0``, blocks ``from_block``..``to_block``.

    One ``eth_getLogs`` a page covers every address and every event (``address`` and
    ``topics[0]`` as lists). ``to_block`` None means the head when the scan starts; pass a
    block deep enough not to be reorganised, since pages are asked for by number. Pages span
    ``chunk`` blocks at most. A refused range (see the module's patterns; HTTP
    413/502/503/504; a read timeout) is halved and asked again, and after ``grow_after`` good
    pages in a row the range doubles back towards ``chunk``; a reply of more than
    ``page_bytes`` makes the next range proportionally smaller. A single block still refused
    raises ``RangeTooLarge`` (after the usual retries when the refusal was a timeout or a
    gateway error).

    To resume, pass the last block fully processed as ``start_after``: the scan begins at
    the block after it. ``on_progress`` is called after the caller is done with each page.

    With ``prefetch`` a thread does the HTTP, one request ahead: the node works on the next
    page while the caller's thread parses and handles this one. Abandoned early, the
    scan's thread ends after the request it is in, on the same ``RawRpc``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 block, not {chunk}")
    if start_after is not None and start_after < from_block - 1:
        raise ValueError(f"start_after={start_after} is before from_block={from_block}")
    wanted = [addresses.lower()] if isinstance(addresses, str) else [address.lower() for address in addresses]
    if not wanted:
        raise ValueError("no address to scan")
    if not topics0:
        raise ValueError("no event topic to scan for")
    owned = isinstance(rpc, str)
    client = RawRpc(rpc) if isinstance(rpc, str) else rpc
    try:
        last = to_block if to_block is not None else int(client.call("eth_blockNumber", []), 16)
    except BaseException:
        if owned:
            client.close()
        raise
    first = from_block if start_after is None else start_after + 1
    replies = _fetch_pages(
        client, wanted, list(topics0), first, last, chunk=chunk, page_bytes=page_bytes, grow_after=grow_after
    )
    if owned:
        replies = _closing(replies, client)
    if prefetch:
        replies = prefetched(replies)
    logs_done = 0
    try:
        for reply in replies:
            page = _parsed(reply, client.url)
            yield page
            logs_done += len(page.logs)
            if on_progress is not None:
                on_progress(page.to_block - from_block + 1, logs_done, page.to_block)
    finally:
        replies.close()  # type: ignore[attr-defined]


def scan_transfers(
    rpc: str | RawRpc,
    tokens: str | Sequence[str],
    from_block: int,
    to_block: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    page_bytes: int | None = DEFAULT_PAGE_BYTES,
    grow_after: int = DEFAULT_GROW_AFTER,
    start_after: int | None = None,
    on_progress: Progress | None = None,
    prefetch: bool = True,
) -> Iterator[LogPage]:
    """``scan_raw_transfers`` with each page decoded into ``TransferLog``s (non-ERC-20 shapes skipped)."""
    for page in scan_raw_transfers(
        rpc,
        tokens,
        from_block,
        to_block,
        chunk=chunk,
        page_bytes=page_bytes,
        grow_after=grow_after,
        start_after=start_after,
        on_progress=on_progress,
        prefetch=prefetch,
    ):
        yield LogPage(page.from_block, page.to_block, decode_transfers(page.logs))


@dataclass(frozen=True, slots=True)
class _Reply:
    """An eth_getLogs reply for blocks ``from_block``..``to_block``, not parsed yet."""

    from_block: int
    to_block: int
    content: bytes


def _parsed(reply: _Reply, url: str) -> RawLogPage:
    try:
        with collector_paused():
            parsed = json.loads(reply.content)
    except ValueError:
        raise RpcError(
            f"eth_getLogs at {redact_url(url)} for blocks {reply.from_block}..{reply.to_block}: not JSON"
        ) from None
    result = parsed.get("result") if isinstance(parsed, dict) else None
    if not isinstance(result, list):
        raise RpcError(
            f"eth_getLogs at {redact_url(url)} for blocks {reply.from_block}..{reply.to_block} "
            f"answered {str(parsed)[:160]}"
        )
    return RawLogPage(reply.from_block, reply.to_block, result)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a moment, unless something else turned it off.

    Parsing a page (or decoding it into ``TransferLog``s) allocates tens of thousands of
    containers, and every 700 start a collection that walks the young heap (and now and
    then the whole heap): about 15% of the parse, to find no garbage, since these objects
    form no reference cycles. Reference counting still frees everything as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _fetch_pages(
    rpc: RawRpc,
    addresses: list[str],
    topics0: list[str],
    first: int,
    last: int,
    *,
    chunk: int,
    page_bytes: int | None,
    grow_after: int,
) -> Iterator[_Reply]:
    address = addresses[0] if len(addresses) == 1 else addresses
    topic0 = topics0[0] if len(topics0) == 1 else topics0
    span, streak, retried = chunk, 0, 0
    start = first
    while start <= last:
        end = min(last, start + span - 1)
        query = {"address": address, "topics": [topic0], "fromBlock": hex(start), "toBlock": hex(end)}
        payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}).encode()
        try:
            content = rpc._fetch_result(payload, method="eth_getLogs")
        except _Refused as refusal:
            if end > start:
                span, streak = (end - start + 1) // 2, 0
                continue
            if refusal.ambiguous and retried < rpc.retries:
                time.sleep(rpc.backoff * 2**retried)
                retried += 1
                continue
            raise RangeTooLarge(
                f"the node at {redact_url(rpc.url)} refuses eth_getLogs even for the single block {start}: {refusal}"
            ) from None
        retried = 0
        yield _Reply(start, end, content)
        width, start = end - start + 1, end + 1
        if page_bytes and len(content) > page_bytes:
            span, streak = max(1, width * page_bytes // len(content)), 0
            continue
        streak += 1
        if span < chunk and streak >= grow_after and (not page_bytes or len(content) * 2 <= page_bytes):
            span, streak = min(chunk, span * 2), 0


def _closing(items: Iterator[T], client: RawRpc) -> Iterator[T]:
    """``items``, closing ``client`` when they end or are abandoned (on the thread that runs them)."""
    try:
        yield from items
    finally:
        client.close()


_END = object()


def prefetched(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """``items``, produced on a daemon thread up to ``depth`` ahead of the consumer.

    An exception in the producer is raised to the consumer in order. When the consumer
    stops early, the producer ends after the item it is working on.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as error:  # handed to the consumer, who raises it
            put((False, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="lifeboat-getlogs", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
