"""Balance reconstruction from Transfer logs: Lifeboat's path against the raw fetch and web3.py.

    python benchmarks/reconstruction_bench.py [--logs 1000000] [--accounts 100000] [--json OUT]

Starts its own anvil, deploys ``BulkTransferToken`` and generates ``--logs`` Transfer logs
over ``--accounts`` distinct recipients (``sprayRange`` transactions of thousands of
transfers each, sent without waiting for receipts). Then, on the same data and the same
eth_getLogs pages, it times:

1. the floor: the raw eth_getLogs requests with the JSON parsed, nothing else;
2. what users write first: web3.py's ``contract.events.Transfer.get_logs`` per page plus a
   Python loop summing balances. When that would take longer than ``--web3-budget``
   seconds it stops after a contiguous run of pages from the start holding at least
   ``--web3-min-logs`` logs and extrapolates per log (the output says so);
3. Lifeboat: ``chain.balances.balances_at_two_blocks`` (fetch, decode and balances at the
   rollback and reference blocks in one pass), plus two variants for reference.

The raw, Lifeboat and variant paths run ``--repeat`` times, interleaved; the table shows
median seconds, and "x raw" is the median of each run's ratio to the raw run of the same
repetition (paired, so a shared machine's drifting load cancels out).

Storing the diff in the database is timed elsewhere: ``store_seconds`` in the JSON output
stays null here, and ``run`` takes a ``store`` hook to time it when a caller has one.
Lifeboat's balances are checked against ``balanceOf`` for a random sample of accounts at
both blocks, against ``totalSupply``, and the three paths against each other.
"""

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind, factory
from chain.balances import balances_at, balances_at_two_blocks, read_balances
from chain.keys import load_account
from chain.logs import (
    TRANSFER_TOPIC,
    RawRpc,
    accumulate_balances_by_topic,
    balances_by_address,
    scan_raw_transfers,
    scan_transfers,
)
from chain.rpc import connect
from chain.transact import send

SPRAY_RANGE = function_signature_to_4byte_selector("sprayRange(uint160,uint256,uint256)")
TRANSFER = function_signature_to_4byte_selector("transfer(address,uint256)")
FIRST_RECIPIENT = 0x1000_0000_0000  # recipients are FIRST_RECIPIENT + i: no precompiles, no dev accounts
SUPPLY = 10**30
NEW_PER_TX = 2_000  # a first transfer to an account costs ~25k gas (a fresh storage slot)
EXISTING_PER_TX = 5_000  # later ones ~7.3k; both stay under anvil's 60M block gas limit
FEES = {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "value": 0}
StoreHook = Callable[[dict[str, int], dict[str, int]], None]


@dataclass
class Generated:
    token: str
    logs: int
    accounts: int
    blocks: int
    transactions: int
    seconds: float


@dataclass
class Measured:
    path: str
    logs: int
    seconds: float
    note: str = ""
    runs: list[float] = field(default_factory=list)
    vs_raw: float = 0.0  # median of the per-repetition ratios to the raw run next to it


# --- generation -------------------------------------------------------------------------------


def _spray_calldata(first: int, count: int, amount: int) -> str:
    return "0x" + (SPRAY_RANGE + abi_encode(["uint160", "uint256", "uint256"], [first, count, amount])).hex()


def _signed(account: LocalAccount, *, to: str, data: str, nonce: int, gas: int, chain_id: int) -> str:
    tx = {"to": to, "data": data, "nonce": nonce, "gas": gas, "chainId": chain_id, **FEES}
    return "0x" + account.sign_transaction(tx).raw_transaction.hex()


def generate(url: str, *, logs: int, accounts: int) -> Generated:
    """Deploy the token and spray ``logs`` transfers over ``accounts`` recipients (about one tx a block)."""
    started = time.perf_counter()
    w3 = connect(url, timeout=300)
    rpc = RawRpc(url, timeout=300)
    chain_id = int(w3.eth.chain_id)
    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    receipt = send(w3, deployer, factory(w3, "BulkTransferToken").constructor(SUPPLY))
    token = receipt["contractAddress"]
    rpc.call("evm_setAutomine", [False])  # blocks are mined by _send_all, as many as the pool needs
    # Five senders, so the logs do not all come from one address.
    senders = [deployer] + [
        load_account(private_key=key)
        for key in (devkeys.EXECUTOR_KEY, devkeys.RELAYER_KEY, devkeys.COMMITTEE_KEY, devkeys.ATTACKER_KEY)
    ]
    nonces = {
        sender.address: int(rpc.call("eth_getTransactionCount", [sender.address, "pending"]), 16) for sender in senders
    }

    def signed(sender: LocalAccount, data: str, gas: int) -> str:
        nonce = nonces[sender.address]
        nonces[sender.address] += 1
        return _signed(sender, to=token, data=data, nonce=nonce, gas=gas, chain_id=chain_id)

    raw: list[str] = []
    for sender in senders[1:]:
        data = "0x" + (TRANSFER + abi_encode(["address", "uint256"], [sender.address, SUPPLY // 10])).hex()
        raw.append(signed(deployer, data, 100_000))
    sprays = 0

    def estimate(sender: LocalAccount, data: str) -> int:
        gas = int(rpc.call("eth_estimateGas", [{"from": sender.address, "to": token, "data": data}]), 16)
        return gas + gas // 20 + 50_000

    # Pass 0: every account receives its first transfer, from the deployer.
    new_gas = estimate(deployer, _spray_calldata(FIRST_RECIPIENT, min(NEW_PER_TX, accounts), 1))
    for offset in range(0, accounts, NEW_PER_TX):
        count = min(NEW_PER_TX, accounts - offset)
        raw.append(signed(deployer, _spray_calldata(FIRST_RECIPIENT + offset, count, 1 + offset % 997), new_gas))
        sprays += count
    # Later passes: existing accounts, windows starting at shifting offsets, amounts varying by tx.
    existing_gas: int | None = None
    pass_number = 0
    while sprays < logs:
        pass_number += 1
        sender = senders[pass_number % len(senders)]
        start = (pass_number * 7_919) % accounts
        covered = 0
        while covered < accounts and sprays < logs:
            first = (start + covered) % accounts
            count = min(EXISTING_PER_TX, accounts - first, accounts - covered, logs - sprays)
            amount = 1 + (pass_number * 131 + first * 17) % 1_000
            data = _spray_calldata(FIRST_RECIPIENT + first, count, amount)
            if existing_gas is None:
                _send_all(rpc, raw)  # funding and the first pass must be mined before estimating
                raw.clear()
                existing_gas = estimate(sender, _spray_calldata(FIRST_RECIPIENT, min(EXISTING_PER_TX, accounts), 1))
            raw.append(signed(sender, data, existing_gas))
            covered += count
            sprays += count
    _send_all(rpc, raw)
    last = int(rpc.call("eth_blockNumber", []), 16)
    transactions = sum(nonces.values())
    rpc.close()
    return Generated(
        token=token.lower(),
        logs=sprays + 1 + len(senders) - 1,  # the mint and the funding transfers are Transfer logs too
        accounts=accounts,
        blocks=last,
        transactions=transactions,
        seconds=time.perf_counter() - started,
    )


def _send_all(rpc: RawRpc, raw: list[str], *, batch: int = 16, blocks_per_call: int = 10) -> None:
    """Send signed txs in JSON-RPC batches without waiting for each, then mine until the pool is empty.

    Automine is off (see ``generate``): each mined block takes what fits of the pool, which
    with these near-full transactions is one. Receipts are not read (each carries thousands
    of logs); ``run`` counts the logs instead, which catches any transaction that reverted.
    """
    for offset in range(0, len(raw), batch):
        for reply in rpc.batch([("eth_sendRawTransaction", [tx]) for tx in raw[offset : offset + batch]]):
            if "error" in reply:
                raise RuntimeError(f"eth_sendRawTransaction failed: {reply['error']}")
    waiting = len(raw)
    for _ in range(len(raw) + 1):
        status = rpc.call("txpool_status", [])
        waiting = int(status["pending"], 16) + int(status["queued"], 16)
        if not waiting:
            return
        rpc.call("anvil_mine", [hex(min(waiting, blocks_per_call))])
    raise RuntimeError(f"the pool still holds {waiting} generation txs after mining a block for each")


# --- the three paths --------------------------------------------------------------------------


def raw_fetch(url: str, token: str, pages: list[tuple[int, int]]) -> int:
    """The floor: the same eth_getLogs requests, read as RawRpc reads them, the JSON parsed, nothing else."""
    session = requests.Session()
    count = 0
    for first, last in pages:
        query = {"address": token, "topics": [TRANSFER_TOPIC], "fromBlock": hex(first), "toBlock": hex(last)}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}).encode()
        with session.post(url, data=body, headers={"Content-Type": "application/json"}, stream=True) as response:
            reply = json.loads(response.raw.read(decode_content=True))
        count += len(reply["result"])
    session.close()
    return count


def web3_event_api(
    url: str, token: str, pages: list[tuple[int, int]], *, budget: float, min_logs: int
) -> tuple[dict[str, int], int, float, int]:
    """What users write first; stops after ``budget`` seconds once ``min_logs`` logs are done.

    Returns (balances, logs, seconds, last block covered).
    """
    w3 = connect(url, timeout=600)
    contract = bind(w3, "BulkTransferToken", token)
    balances: dict[str, int] = {}
    count = 0
    covered = -1
    started = time.perf_counter()
    for first, last in pages:
        for event in contract.events.Transfer.get_logs(from_block=first, to_block=last):
            value = event["args"]["value"]
            sender, recipient = event["args"]["from"], event["args"]["to"]
            balances[sender] = balances.get(sender, 0) - value
            balances[recipient] = balances.get(recipient, 0) + value
            count += 1
        covered = last
        if time.perf_counter() - started > budget and count >= min_logs:
            break
    return balances, count, time.perf_counter() - started, covered


def page_plan(url: str, token: str, last_block: int, *, chunk: int) -> tuple[list[tuple[int, int]], int]:
    """The pages Lifeboat's scanner asks for (recorded from its progress callback), and the logs it saw."""
    ends: list[int] = []
    seen = [0]

    def record(_blocks: int, logs: int, end: int) -> None:
        ends.append(end)
        seen[0] = logs

    for _ in scan_raw_transfers(url, token, 0, last_block, chunk=chunk, on_progress=record):
        pass
    return list(zip([0] + [end + 1 for end in ends[:-1]], ends, strict=True)), seen[0]


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def run(
    *,
    logs: int,
    accounts: int,
    chunk: int,
    repeat: int,
    web3_budget: float,
    web3_min_logs: int,
    sample: int,
    store: StoreHook | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    # Base fee 0: a few hundred full blocks would otherwise raise it 12.5% a block, past any fee cap.
    with Anvil(port=0, extra_args=("--base-fee", "0")) as node:
        url = node.url
        print(f"anvil on {url}; generating {logs:,} Transfer logs over {accounts:,} accounts ...", flush=True)
        generated = generate(url, logs=logs, accounts=accounts)
        print(
            f"generated {generated.logs:,} logs in {generated.transactions} txs / {generated.blocks} blocks "
            f"in {generated.seconds:.1f} s",
            flush=True,
        )
        token, last_block = generated.token, generated.blocks
        rollback_block = last_block // 2
        pages, seen = page_plan(url, token, last_block, chunk=chunk)  # also warms anvil up
        if seen != generated.logs:
            raise RuntimeError(f"expected {generated.logs:,} Transfer logs, found {seen:,}: a generation tx reverted")
        print(f"{len(pages)} eth_getLogs pages of up to {chunk} blocks", flush=True)

        before: dict[str, int] = {}
        after: dict[str, int] = {}
        counts: dict[str, int] = {}

        def lifeboat() -> None:
            nonlocal before, after
            before, after = balances_at_two_blocks(
                url,
                token,
                rollback_block,
                last_block,
                chunk=chunk,
                on_progress=lambda _b, done, _c: counts.__setitem__("lifeboat", done),
            )

        def sequential() -> None:
            by_topic: dict[str, int] = {}
            counts["sequential"] = sum(
                accumulate_balances_by_topic(page.logs, by_topic)
                for page in scan_raw_transfers(url, token, 0, last_block, chunk=chunk, prefetch=False)
            )
            balances_by_address(by_topic)

        def objects() -> None:
            counts["objects"] = sum(len(page.logs) for page in scan_transfers(url, token, 0, last_block, chunk=chunk))

        def raw() -> None:
            counts["raw"] = raw_fetch(url, token, pages)

        paths = {"raw": raw, "lifeboat": lifeboat, "sequential": sequential, "objects": objects}
        runs: dict[str, list[float]] = {name: [] for name in paths}
        order = list(paths)
        for repetition in range(repeat):
            # Interleaved, in a rotating order, so drift in the machine's load hits every path alike.
            for name in order[repetition % len(order) :] + order[: repetition % len(order)]:
                runs[name].append(_timed(paths[name])[0])
            print(f"run {repetition + 1}/{repeat}: " + ", ".join(f"{n} {runs[n][-1]:.2f} s" for n in order), flush=True)
        store_seconds = None
        if store is not None:
            store_seconds, _ = _timed(lambda: store(before, after))

        print(f"web3.py event API (budget {web3_budget:.0f} s) ...", flush=True)
        web3_balances, web3_count, web3_seconds, web3_covered = web3_event_api(
            url, token, pages, budget=web3_budget, min_logs=web3_min_logs
        )
        web3_full = web3_covered == last_block

        # --- agreement ---
        rng = random.Random(seed)
        holders = sorted(after)
        chosen = rng.sample(holders, min(sample, len(holders)))
        on_chain_after = read_balances(url, token, chosen, last_block)
        on_chain_before = read_balances(url, token, chosen, rollback_block)
        checks = {
            "sample_after_equals_balanceOf": all(after[a] == on_chain_after[a] for a in chosen),
            "sample_before_equals_balanceOf": all(before.get(a, 0) == on_chain_before[a] for a in chosen),
            "total_equals_totalSupply": sum(after.values()) == SUPPLY,
            "every_path_saw_every_log": set(counts.values()) == {generated.logs},
        }
        web3_lower = {address.lower(): amount for address, amount in web3_balances.items()}
        web3_lower.pop("0x" + "0" * 40, None)
        reference = after if web3_full else balances_at(url, token, web3_covered, chunk=chunk)
        checks["web3_sample_equals_lifeboat"] = all(web3_lower.get(a, 0) == reference.get(a, 0) for a in chosen)
        checks["web3_total_equals_lifeboat"] = sum(web3_lower.values()) == sum(reference.values())
        checks["web3_accounts_equal_lifeboat"] = set(web3_lower) == set(reference)

    total_logs = generated.logs
    raw_row = Measured(
        "raw eth_getLogs + json.loads (floor)", total_logs, statistics.median(runs["raw"]), runs=runs["raw"]
    )
    if web3_full:
        web3 = Measured("web3.py events.Transfer.get_logs + loop", web3_count, web3_seconds, runs=[web3_seconds])
    else:
        web3 = Measured(
            "web3.py events.Transfer.get_logs + loop",
            total_logs,
            web3_seconds * total_logs / web3_count,
            note=f"extrapolated from {web3_count:,} logs (blocks 0..{web3_covered}) measured in {web3_seconds:.1f} s",
            runs=[web3_seconds],
        )
    lifeboat_row = Measured(
        "Lifeboat balances_at_two_blocks (fetch+decode+2 snapshots)",
        total_logs,
        statistics.median(runs["lifeboat"]),
        runs=runs["lifeboat"],
    )
    rows = [
        raw_row,
        lifeboat_row,
        Measured(
            "  variant: no prefetch thread, one snapshot",
            total_logs,
            statistics.median(runs["sequential"]),
            runs=runs["sequential"],
        ),
        Measured(
            "  variant: TransferLog objects (scan_transfers)",
            total_logs,
            statistics.median(runs["objects"]),
            runs=runs["objects"],
        ),
        web3,
    ]
    for row, name in zip(rows[:4], ("raw", "lifeboat", "sequential", "objects"), strict=True):
        # Paired: each run against the raw run of the same repetition, so load that drifts
        # between repetitions (a shared machine) cancels out.
        row.vs_raw = statistics.median(path / raw for path, raw in zip(runs[name], runs["raw"], strict=True))
    web3.vs_raw = web3.seconds / raw_row.seconds
    return {
        "generation": generated.__dict__,
        "pages": len(pages),
        "chunk_blocks": chunk,
        "rollback_block": rollback_block,
        "reference_block": last_block,
        "repeat": repeat,
        "sample": len(chosen),
        "rows": [row.__dict__ for row in rows],
        "raw_seconds": raw_row.seconds,
        "web3_seconds": web3.seconds,
        "web3_extrapolated": not web3_full,
        "lifeboat_seconds": lifeboat_row.seconds,
        "lifeboat_vs_raw": lifeboat_row.vs_raw,
        "web3_vs_lifeboat": web3.seconds / lifeboat_row.seconds,
        "store_seconds": store_seconds,  # writing the diff to the database is measured elsewhere
        "checks": checks,
    }


def markdown(result: dict[str, Any]) -> str:
    web3 = result["web3_seconds"]
    lines = [
        "| path | logs | seconds | logs/s | x raw | faster than web3 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        seconds = row["seconds"]
        star = " *" if row["note"] else ""
        lines.append(
            f"| {row['path']}{star} | {row['logs']:,} | {seconds:.2f} | {row['logs'] / seconds:,.0f} | "
            f"{row['vs_raw']:.2f} | {web3 / seconds:.1f}x |"
        )
    lines.append("| store the diff (database) | — | measured elsewhere | — | — | — |")
    notes = [f"* {row['note']}" for row in result["rows"] if row["note"]]
    return "\n".join([*lines, "", *notes])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000, help="Transfer logs to generate (default 1,000,000)")
    parser.add_argument("--accounts", type=int, default=100_000, help="distinct recipients (default 100,000)")
    parser.add_argument("--chunk", type=int, default=4, help="blocks per eth_getLogs page (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the raw and Lifeboat paths; medians reported")
    parser.add_argument("--web3-budget", type=float, default=300, help="seconds before web3 is extrapolated")
    parser.add_argument("--web3-min-logs", type=int, default=100_000, help="logs web3 must cover before stopping")
    parser.add_argument("--sample", type=int, default=1_000, help="accounts checked against balanceOf")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.logs < args.accounts:
        parser.error("--logs must be at least --accounts (every account receives one transfer first)")
    result = run(
        logs=args.logs,
        accounts=args.accounts,
        chunk=args.chunk,
        repeat=args.repeat,
        web3_budget=args.web3_budget,
        web3_min_logs=args.web3_min_logs,
        sample=args.sample,
    )
    print()
    print(markdown(result))
    print()
    gen = result["generation"]
    print(
        f"generation: {gen['logs']:,} logs, {gen['accounts']:,} accounts, {gen['transactions']} txs, "
        f"{gen['blocks']} blocks, {gen['seconds']:.1f} s; {result['pages']} pages"
        f" of ≤ {result['chunk_blocks']} blocks; "
        f"balances at blocks {result['rollback_block']} and {result['reference_block']}"
    )
    print(
        f"Lifeboat / raw = {result['lifeboat_vs_raw']:.2f} (target ≤ 1.3); "
        f"web3 / Lifeboat = {result['web3_vs_lifeboat']:.0f} (target ≥ 40)"
    )
    for name, ok in result["checks"].items():
        print(f"check {name}: {'ok' if ok else 'FAILED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
