"""Transfer log scanning and balance replay on a real anvil: replayed balances against
``balanceOf``, paging, resuming, refused ranges (through a small limiting proxy), dead nodes
and addresses that are not tokens. No database."""

import contextlib
import gc
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st
from web3.contract import Contract

from chain import devkeys
from chain.anvil import Anvil, free_port
from chain.artifacts import bind, checksum, factory
from chain.balances import balances_at, balances_at_two_blocks, check_erc20, read_balances
from chain.errors import ChainError, NegativeBalance, NotAnErc20, RangeTooLarge, RpcUnavailable
from chain.keys import load_account
from chain.logs import (
    TRANSFER_TOPIC,
    ZERO_ADDRESS,
    RawRpc,
    TransferLog,
    accumulate_balances,
    accumulate_balances_by_topic,
    address_topic,
    balances_by_address,
    decode_transfers,
    scan_raw_transfers,
    scan_transfers,
)
from chain.rpc import connect
from chain.transact import send

SUPPLY = 10**24
FIRST_RECIPIENT = 0x5000  # sprayRange recipients: 0x...5000 onwards
REFUSAL = "query returned more than 10000 results"
SLOW_SECONDS = 0.6


@dataclass(frozen=True)
class History:
    """A token with a known history on the module's anvil."""

    url: str
    token: str  # lowercase
    other_token: str  # a second token, for multi-token scans
    deploy_block: int
    last_block: int
    accounts: list[str]  # every lowercase address that ever held or moved the token, and a stranger


def _recipient(index: int) -> str:
    return "0x" + f"{FIRST_RECIPIENT + index:040x}"


def _account(key: str) -> LocalAccount:
    return load_account(private_key=key)


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    anvil = Anvil(port=0).start()
    try:
        yield anvil
    finally:
        anvil.stop()


@pytest.fixture(scope="module")
def history(node: Anvil) -> History:
    """Mint, sprays, transfers back and forth, a self-transfer, a zero transfer, empty blocks."""
    w3 = connect(node.url)
    deployer = _account(devkeys.DEPLOYER_KEY)
    alice, bob, carol = _account(devkeys.EXECUTOR_KEY), _account(devkeys.RELAYER_KEY), _account(devkeys.COMMITTEE_KEY)
    dora = _account(devkeys.ATTACKER_KEY)

    receipt = send(w3, deployer, factory(w3, "BulkTransferToken").constructor(SUPPLY))
    token = bind(w3, "BulkTransferToken", receipt["contractAddress"])
    deploy_block = receipt["blockNumber"]

    def as_(account: LocalAccount, call: Any) -> None:
        send(w3, account, call)

    as_(deployer, token.functions.sprayRange(FIRST_RECIPIENT, 150, 1_000))
    for account, amount in ((alice, 10**21), (bob, 5 * 10**20), (carol, 7_777), (dora, 1_000)):
        as_(deployer, token.functions.transfer(account.address, amount))
    as_(alice, token.functions.transfer(bob.address, 500))
    as_(bob, token.functions.transfer(alice.address, 200))
    as_(carol, token.functions.transfer(checksum(_recipient(5)), 77))
    as_(alice, token.functions.transfer(alice.address, 10))  # to oneself: no net change
    as_(bob, token.functions.transfer(carol.address, 0))  # a zero transfer still logs
    as_(dora, token.functions.transfer(alice.address, 1_000))  # dora ends at zero
    w3.provider.make_request("anvil_mine", ["0x3"])  # empty blocks
    spray_to = [checksum(_recipient(i)) for i in (1, 2, 2, 149)] + [carol.address]
    as_(carol, token.functions.spray(spray_to, 3))
    as_(bob, token.functions.sprayRange(FIRST_RECIPIENT + 100, 100, 7))  # 100..149 again, 150..199 new
    as_(alice, token.functions.transfer(bob.address, 123_456_789))

    other = send(w3, deployer, factory(w3, "BulkTransferToken").constructor(SUPPLY))
    other_token = bind(w3, "BulkTransferToken", other["contractAddress"])
    as_(deployer, other_token.functions.sprayRange(FIRST_RECIPIENT, 20, 5))
    as_(deployer, token.functions.transfer(bob.address, 1))

    accounts = {
        deployer.address.lower(),
        alice.address.lower(),
        bob.address.lower(),
        carol.address.lower(),
        dora.address.lower(),
        *(_recipient(i) for i in range(200)),
        _recipient(10_000),  # never touched
    }
    return History(
        url=node.url,
        token=token.address.lower(),
        other_token=other_token.address.lower(),
        deploy_block=deploy_block,
        last_block=w3.eth.block_number,
        accounts=sorted(accounts),
    )


@pytest.fixture(scope="module")
def token(node: Anvil, history: History) -> Contract:
    return bind(connect(node.url), "BulkTransferToken", history.token)


# --- a limiting proxy: a stand-in for a provider's eth_getLogs limit, in front of anvil --------


@dataclass
class Limit:
    max_span: int  # larger eth_getLogs ranges are refused; 0 refuses every range
    kind: str  # how: "json-rpc" error, an HTTP status ("413", "503"), or "slow" (no answer in time)
    served: list[int]
    refused: list[int]


@contextmanager
def refusing_proxy(upstream: str, *, max_span: int, kind: str = "json-rpc") -> Iterator[tuple[str, Limit]]:
    limit = Limit(max_span, kind, [], [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = json.loads(body)
            if isinstance(request, dict) and request.get("method") == "eth_getLogs":
                query = request["params"][0]
                span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
                if span > limit.max_span:
                    limit.refused.append(span)
                    if limit.kind == "json-rpc":
                        error = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": REFUSAL}}
                        self._reply(200, json.dumps(error).encode())
                    elif limit.kind == "slow":
                        time.sleep(SLOW_SECONDS)  # past the client's timeout; it has hung up
                    else:
                        self._reply(int(limit.kind), b"<html>upstream says no</html>")
                    return
                limit.served.append(span)
            upstream_reply = requests.post(
                upstream, data=body, headers={"Content-Type": "application/json"}, timeout=30
            )
            self._reply(upstream_reply.status_code, upstream_reply.content)

        def _reply(self, status: int, content: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # a client that timed out has hung up
                super().handle()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", limit
    finally:
        server.shutdown()
        server.server_close()


def _all_logs(url: str | RawRpc, token: str, history: History, **options: Any) -> list[TransferLog]:
    return [log for page in scan_transfers(url, token, 0, history.last_block, **options) for log in page.logs]


# --- replayed balances against the chain ------------------------------------------------------


def test_replayed_balances_equal_balance_of_for_every_account_at_every_block(history: History) -> None:
    for block in range(history.deploy_block - 1, history.last_block + 1):
        replayed = balances_at(history.url, history.token, block)
        on_chain = read_balances(history.url, history.token, history.accounts, block) if block else {}
        for account in history.accounts:
            assert replayed.get(account, 0) == on_chain.get(account, 0), (block, account)
        assert ZERO_ADDRESS not in replayed
        assert sum(replayed.values()) == (SUPPLY if block >= history.deploy_block else 0)


def test_web3_balance_of_agrees_with_the_replay_for_a_sample(history: History, token: Contract) -> None:
    block = history.deploy_block + 8
    replayed = balances_at(history.url, history.token, block)
    for account in (history.accounts[0], _recipient(5), _recipient(149), checksum(_recipient(150)).lower()):
        assert token.functions.balanceOf(checksum(account)).call(block_identifier=block) == replayed.get(account, 0)


def test_accounts_back_at_zero_stay_in_the_replay_and_strangers_do_not_appear(history: History) -> None:
    replayed = balances_at(history.url, history.token, history.last_block)
    dora = _account(devkeys.ATTACKER_KEY).address.lower()
    assert replayed[dora] == 0
    assert _recipient(10_000) not in replayed
    assert len(replayed) == len(history.accounts) - 1


def test_replaying_from_after_the_mint_without_a_snapshot_raises_negative_balance(history: History) -> None:
    with pytest.raises(NegativeBalance, match=r"leaves 0x\w+ at -"):
        balances_at(history.url, history.token, history.last_block, from_block=history.deploy_block + 1)


def test_the_two_block_single_pass_equals_two_separate_replays(history: History) -> None:
    last = history.last_block
    for rollback in (history.deploy_block - 1, history.deploy_block, history.deploy_block + 7, last - 1, last):
        for chunk in (1, 4, 2_000):
            before, after = balances_at_two_blocks(history.url, history.token, rollback, last, chunk=chunk)
            assert before == balances_at(history.url, history.token, rollback), (rollback, chunk)
            assert after == balances_at(history.url, history.token, last), (rollback, chunk)


def test_the_two_block_pass_refuses_a_rollback_after_the_reference(history: History) -> None:
    with pytest.raises(ValueError, match="rollback_block <= reference_block"):
        balances_at_two_blocks(history.url, history.token, history.last_block, history.last_block - 1)


def test_one_block_pages_give_the_same_logs_and_balances_as_large_pages(history: History) -> None:
    assert _all_logs(history.url, history.token, history, chunk=1) == _all_logs(history.url, history.token, history)
    assert balances_at(history.url, history.token, history.last_block, chunk=1) == balances_at(
        history.url, history.token, history.last_block
    )


def test_scanning_without_the_prefetch_thread_gives_the_same_logs(history: History) -> None:
    threaded = _all_logs(history.url, history.token, history, chunk=3)
    assert _all_logs(history.url, history.token, history, chunk=3, prefetch=False) == threaded


def test_a_replay_resumed_from_a_mid_block_snapshot_matches_a_full_replay(history: History) -> None:
    mid = history.deploy_block + 6
    snapshot = balances_at(history.url, history.token, mid)
    checksummed = {checksum(account): amount for account, amount in snapshot.items()}
    resumed = balances_at(history.url, history.token, history.last_block, from_block=mid + 1, start=checksummed)
    assert resumed == balances_at(history.url, history.token, history.last_block)


def test_a_scan_resumed_after_a_block_yields_exactly_the_remaining_logs(history: History) -> None:
    mid = history.deploy_block + 6
    everything = _all_logs(history.url, history.token, history, chunk=2)
    resumed = [
        log
        for page in scan_transfers(history.url, history.token, 0, history.last_block, chunk=2, start_after=mid)
        for log in page.logs
    ]
    assert resumed == [log for log in everything if log.block > mid]
    assert resumed and resumed[0].block > mid


def test_pages_cover_the_range_in_block_order_and_progress_reports_each(history: History) -> None:
    progress: list[tuple[int, int, int]] = []
    pages = list(
        scan_raw_transfers(
            history.url,
            history.token,
            3,
            history.last_block,
            chunk=4,
            on_progress=lambda *report: progress.append(report),
        )
    )
    assert pages[0].from_block == 3 and pages[-1].to_block == history.last_block
    assert all(earlier.to_block + 1 == later.from_block for earlier, later in itertools.pairwise(pages))
    logs_done = 0
    for page, (blocks_done, logs_so_far, current) in zip(pages, progress, strict=True):
        logs_done += len(page.logs)
        assert (blocks_done, logs_so_far, current) == (page.to_block - 3 + 1, logs_done, page.to_block)
        assert all(page.from_block <= int(log["blockNumber"], 16) <= page.to_block for log in page.logs)


def test_decoded_transfers_match_what_web3_decodes(history: History, token: Contract) -> None:
    ours = _all_logs(history.url, history.token, history)
    theirs = token.events.Transfer.get_logs(from_block=0, to_block=history.last_block)
    assert [
        (log.block, log.log_index, log.tx_hash, log.token, log.sender, log.recipient, log.amount) for log in ours
    ] == [
        (
            event["blockNumber"],
            event["logIndex"],
            event["transactionHash"].to_0x_hex(),
            event["address"].lower(),
            event["args"]["from"].lower(),
            event["args"]["to"].lower(),
            event["args"]["value"],
        )
        for event in theirs
    ]


def test_a_scan_of_two_tokens_returns_both_in_chain_order(history: History) -> None:
    both = _all_logs(history.url, [history.token, checksum(history.other_token)], history)
    assert {log.token for log in both} == {history.token, history.other_token}
    assert [(log.block, log.log_index) for log in both] == sorted((log.block, log.log_index) for log in both)
    assert len(both) == len(_all_logs(history.url, history.token, history)) + len(
        _all_logs(history.url, history.other_token, history)
    )


def test_a_scan_abandoned_after_one_page_leaves_its_client_usable(history: History) -> None:
    with RawRpc(history.url) as rpc:
        pages = scan_raw_transfers(rpc, history.token, 0, history.last_block, chunk=1)
        next(pages)
        pages.close()  # type: ignore[attr-defined]
        assert balances_at(rpc, history.token, history.last_block) == balances_at(
            history.url, history.token, history.last_block
        )


# --- refused ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json-rpc", "413", "503"])
def test_ranges_the_node_refuses_are_halved_until_they_pass_and_grow_back(history: History, kind: str) -> None:
    expected = _all_logs(history.url, history.token, history)
    with refusing_proxy(history.url, max_span=3, kind=kind) as (url, limit):
        rpc = RawRpc(url, retries=1, backoff=0.01)
        got = _all_logs(rpc, history.token, history, chunk=16, grow_after=1)
    assert got == expected
    assert limit.refused[:3] == [16, 8, 4] and max(limit.served) <= 3
    # After shrinking to 2 blocks the range doubles again to 4, is refused, and settles.
    assert limit.refused.count(4) >= 2


def test_a_range_the_node_cannot_answer_in_time_is_halved_like_a_refusal(history: History) -> None:
    expected = _all_logs(history.url, history.token, history)
    with refusing_proxy(history.url, max_span=4, kind="slow") as (url, limit):
        rpc = RawRpc(url, timeout=SLOW_SECONDS / 3, retries=0)
        got = _all_logs(rpc, history.token, history, chunk=16, grow_after=100)
    assert got == expected
    assert limit.refused == [16, 8] and max(limit.served) == 4


def test_the_replay_through_a_limiting_provider_equals_the_direct_replay(history: History) -> None:
    with refusing_proxy(history.url, max_span=2) as (url, _):
        through_proxy = balances_at_two_blocks(url, history.token, history.deploy_block + 5, history.last_block)
    assert through_proxy == balances_at_two_blocks(
        history.url, history.token, history.deploy_block + 5, history.last_block
    )


def test_a_single_block_the_node_still_refuses_raises_range_too_large(history: History) -> None:
    with refusing_proxy(history.url, max_span=0) as (url, limit), pytest.raises(RangeTooLarge, match="single block"):
        balances_at(url, history.token, history.last_block)
    assert limit.refused[-1] == 1


# --- nodes that fail --------------------------------------------------------------------------


def test_a_scan_of_a_port_where_nothing_listens_raises_rpc_unavailable(history: History) -> None:
    rpc = RawRpc(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01)
    with pytest.raises(RpcUnavailable, match="failed 3 times"):
        list(scan_raw_transfers(rpc, history.token, 0, 10))


def test_a_node_that_stops_mid_scan_raises_rpc_unavailable_not_a_requests_error() -> None:
    with Anvil(port=0) as doomed:
        w3 = connect(doomed.url)
        deployer = _account(devkeys.DEPLOYER_KEY)
        receipt = send(w3, deployer, factory(w3, "BulkTransferToken").constructor(SUPPLY))
        token = bind(w3, "BulkTransferToken", receipt["contractAddress"])
        for offset in range(0, 60, 10):
            send(w3, deployer, token.functions.sprayRange(FIRST_RECIPIENT + offset, 10, 1))
        last = w3.eth.block_number
        rpc = RawRpc(doomed.url, retries=2, backoff=0.01)
        seen: list[int] = []

        def stop_the_node(_blocks: int, _logs: int, current: int) -> None:
            seen.append(current)
            doomed.stop()

        with pytest.raises(ChainError) as raised:
            for _ in scan_raw_transfers(rpc, token.address, 0, last, chunk=1, on_progress=stop_the_node):
                pass
    assert isinstance(raised.value, RpcUnavailable)
    assert not isinstance(raised.value, requests.RequestException)
    assert seen and seen[-1] < last


def test_read_balances_of_a_dead_node_raises_rpc_unavailable(history: History) -> None:
    rpc = RawRpc(f"http://127.0.0.1:{free_port()}", retries=0)
    with pytest.raises(RpcUnavailable):
        read_balances(rpc, history.token, history.accounts, history.last_block)


# --- ERC-20 or not ----------------------------------------------------------------------------


def test_check_erc20_accepts_the_token(history: History) -> None:
    check_erc20(history.url, history.token, history.last_block)


def test_check_erc20_refuses_an_account_without_code(history: History) -> None:
    eoa = _account(devkeys.EXECUTOR_KEY).address
    with pytest.raises(NotAnErc20, match=f"{eoa} is not an ERC-20 token.*no contract code"):
        check_erc20(history.url, eoa, history.last_block)


def test_check_erc20_refuses_a_token_before_it_was_deployed(history: History) -> None:
    with pytest.raises(NotAnErc20, match="no contract code"):
        check_erc20(history.url, history.token, history.deploy_block - 1)


def test_check_erc20_refuses_a_contract_that_is_not_a_token(node: Anvil) -> None:
    w3 = connect(node.url)
    deployer = _account(devkeys.DEPLOYER_KEY)
    receipt = send(w3, deployer, factory(w3, "VaultDrainer").constructor(deployer.address))
    address = receipt["contractAddress"]
    with pytest.raises(NotAnErc20, match=f"{address} is not an ERC-20 token.*totalSupply\\(\\) reverted"):
        check_erc20(node.url, address, receipt["blockNumber"])
    with pytest.raises(NotAnErc20, match="balanceOf"):
        read_balances(w3, address, [deployer.address], receipt["blockNumber"])


# --- the decoders on their own ----------------------------------------------------------------


def _log(sender: str, recipient: str, amount: int, *, block: int = 1, index: int = 0) -> dict[str, Any]:
    return {
        "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + sender[2:], "0x" + "0" * 24 + recipient[2:]],
        "data": f"0x{amount:064x}",
        "blockNumber": hex(block),
        "logIndex": hex(index),
        "transactionHash": "0x" + "ab" * 32,
    }


def test_logs_of_other_shapes_are_skipped_by_both_decoders() -> None:
    alice, bob = "0x" + "a1" * 20, "0x" + "b2" * 20
    erc721 = {**_log(alice, bob, 0), "topics": [*_log(alice, bob, 0)["topics"], f"0x{7:064x}"], "data": "0x"}
    amount_indexed = {**_log(alice, bob, 0), "data": "0x"}
    not_transfer = {**_log(alice, bob, 5), "topics": ["0x" + "11" * 32, *_log(alice, bob, 5)["topics"][1:]]}
    logs = [_log(ZERO_ADDRESS, alice, 100), erc721, amount_indexed, not_transfer, _log(alice, bob, 40)]

    balances: dict[str, int] = {}
    assert accumulate_balances(logs, balances) == 2
    assert balances == {ZERO_ADDRESS: -100, alice: 60, bob: 40}
    decoded = decode_transfers(logs)
    assert [(log.sender, log.recipient, log.amount) for log in decoded] == [
        (ZERO_ADDRESS, alice, 100),
        (alice, bob, 40),
    ]
    assert decoded[0].token == "0x5fbdb2315678afecb367f032d93f642f64180aa3"


_addresses = st.sampled_from(["0x" + f"{i:040x}" for i in range(6)])


@given(st.lists(st.tuples(_addresses, _addresses, st.integers(0, 2**256 - 1)), max_size=40))
def test_the_fast_paths_balances_equal_the_sum_of_decoded_transfers(transfers: list[tuple[str, str, int]]) -> None:
    logs = [_log(sender, recipient, amount, index=i) for i, (sender, recipient, amount) in enumerate(transfers)]
    slow: dict[str, int] = {}
    for log in decode_transfers(logs):
        slow[log.sender] = slow.get(log.sender, 0) - log.amount
        slow[log.recipient] = slow.get(log.recipient, 0) + log.amount
    fast: dict[str, int] = {}
    accumulate_balances(logs[: len(logs) // 2], fast)  # in two pages, into one dict
    accumulate_balances(logs[len(logs) // 2 :], fast)
    by_topic: dict[str, int] = {}
    accumulate_balances_by_topic(logs, by_topic)
    assert fast == slow == balances_by_address(by_topic)
    assert sum(fast.values()) == 0


def test_topic_keys_convert_to_addresses_and_back() -> None:
    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    topic = address_topic(address)
    assert topic == "0x000000000000000000000000" + address[2:].lower()
    dirty = "0x" + "ff" * 12 + address[2:].lower()  # upper bytes set: still the same account
    assert balances_by_address({topic: 5, dirty: 2}) == {address.lower(): 7}


def test_decoding_leaves_the_garbage_collector_as_it_found_it(history: History) -> None:
    logs = [_log("0x" + "a1" * 20, "0x" + "b2" * 20, 1)]
    gc.disable()
    try:
        decode_transfers(logs)
        balances_at(history.url, history.token, history.last_block)
        assert not gc.isenabled()
    finally:
        gc.enable()
    decode_transfers(logs)
    balances_at(history.url, history.token, history.last_block)
    assert gc.isenabled()
