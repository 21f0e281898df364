"""Balance reconstruction from Transfer logs: Lifeboat against fair floors and web3.py.

    python benchmarks/reconstruction_bench.py [--logs 1000000] [--accounts 100000] [--rounds 3]
                                              [--no-web3] [--json OUT]
    python benchmarks/reconstruction_bench.py --show OUT     # the table of a saved run again

Starts its own anvil, deploys ``BulkTransferToken`` and generates ``--logs`` Transfer logs
over ``--accounts`` distinct recipients (``sprayRange`` transactions of thousands of
transfers each, sent without waiting for receipts). Then, on the same data and the same
eth_getLogs pages (the ones Lifeboat's scanner asks for), it runs in rounds, A B C ... A B C,
each round in a rotated order:

- ``anvil``: the node's own serving time: the requests one after another, each body read
  whole and thrown away, nothing parsed. No client can be faster than the node answers;
- ``naive``: the floor RESULTS.md used to cite: one request at a time, ``json.loads`` with
  the garbage collector on, as plain code would;
- ``floor``: the fair floor: the best plain Python does with Lifeboat's two tricks: one
  thread fetching the next page while this one is parsed, the collector off while parsing;
- ``plain``: that floor plus a plain loop keeping the balances at both blocks (what a careful
  user writes by hand); its balances must equal Lifeboat's;
- ``lifeboat``: ``chain.balances.balances_at_two_blocks`` (fetch, decode, balances at the
  rollback and the reference block in one pass);
- ``sequential``: Lifeboat's scan without the prefetch thread, one snapshot (a variant);
- ``web3``: web3.py's ``contract.events.Transfer.get_logs`` per page plus a Python loop,
  which is what users write first, in full, in every round (``--no-web3`` leaves it out:
  at a million logs a round of it takes about 17 minutes).

Each run records wall seconds, this process's CPU-seconds (all threads), anvil's
CPU-seconds, the CPU-seconds the rest of the machine used meanwhile, and the garbage
collections it ran. The table shows medians over the rounds; "x floor" and "x anvil" are
medians of each round's paired ratio (a drifting load on a shared machine hits both sides
of a pair alike). Checks: a sample of accounts equals ``balanceOf`` at both blocks, the
total equals ``totalSupply``, every path saw every log, and the plain loop's and web3's
balances equal Lifeboat's.
"""

import argparse
import gc
import json
import queue
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cputime import Sample, describe, machine, timed
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind, factory
from chain.balances import balances_at_two_blocks, read_balances
from chain.keys import load_account
from chain.logs import (
    TRANSFER_TOPIC,
    RawRpc,
    accumulate_balances_by_topic,
    balances_by_address,
    scan_raw_transfers,
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
ZERO = "0x" + "0" * 40
Pages = list[tuple[int, int]]
Balances = dict[str, int]


@dataclass
class Generated:
    token: str
    logs: int
    accounts: int
    blocks: int
    transactions: int
    seconds: float


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


# --- the paths ----------------------------------------------------------------------------------


def _get_logs(session: requests.Session, url: str, token: str, first: int, last: int) -> bytes:
    """One eth_getLogs reply, unparsed, read in one piece as Lifeboat's ``RawRpc`` reads it."""
    query = {"address": token, "topics": [TRANSFER_TOPIC], "fromBlock": hex(first), "toBlock": hex(last)}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}).encode()
    with session.post(url, data=body, headers={"Content-Type": "application/json"}, stream=True) as response:
        return response.raw.read(decode_content=True)


def anvil_serving(url: str, token: str, pages: Pages) -> int:
    """The node's own time: every page requested in turn, its body read and dropped. Returns bytes read."""
    with requests.Session() as session:
        return sum(len(_get_logs(session, url, token, first, last)) for first, last in pages)


def naive_floor(url: str, token: str, pages: Pages) -> int:
    """One request at a time, parsed with the collector on. Returns the logs parsed."""
    with requests.Session() as session:
        return sum(len(json.loads(_get_logs(session, url, token, first, last))["result"]) for first, last in pages)


def _prefetched_bodies(url: str, token: str, pages: Pages) -> Iterator[bytes]:
    """The pages' bodies in order, fetched by one thread a page ahead of the caller."""
    handoff: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=1)

    def fetch() -> None:
        try:
            with requests.Session() as session:
                for first, last in pages:
                    handoff.put(_get_logs(session, url, token, first, last))
            handoff.put(None)
        except BaseException as error:  # handed to the caller
            handoff.put(error)

    thread = threading.Thread(target=fetch, name="floor-getlogs", daemon=True)
    thread.start()
    while (body := handoff.get()) is not None:
        if isinstance(body, BaseException):
            raise body
        yield body
    thread.join()


def _parsed(body: bytes) -> list[dict[str, Any]]:
    """``json.loads`` with the cyclic collector off: parsing builds no cycles, so it finds nothing."""
    gc.disable()
    try:
        return json.loads(body)["result"]
    finally:
        gc.enable()


def fair_floor(url: str, token: str, pages: Pages) -> int:
    """The best plain fetch-and-parse: a prefetch thread and the collector off while parsing. Returns logs."""
    return sum(len(_parsed(body)) for body in _prefetched_bodies(url, token, pages))


def plain_balances(url: str, token: str, pages: Pages, rollback_block: int) -> tuple[Balances, Balances, int]:
    """The fair floor plus the balance loop a careful user writes: (before, after, logs)."""
    balances: Balances = {}
    before: Balances | None = None
    count = 0
    get = balances.get
    for (_, last), body in zip(pages, _prefetched_bodies(url, token, pages), strict=True):
        logs = _parsed(body)
        count += len(logs)
        if before is None and last > rollback_block:
            split = next((i for i, log in enumerate(logs) if int(log["blockNumber"], 16) > rollback_block), len(logs))
            head, logs = logs[:split], logs[split:]
            _plain_apply(head, balances, get)
            before = dict(balances)
        _plain_apply(logs, balances, get)
    if before is None:
        before = dict(balances)
    for result in (before, balances):
        result.pop(ZERO, None)
    return before, balances, count


def _plain_apply(logs: list[dict[str, Any]], balances: Balances, get: Callable[[str, int], int]) -> None:
    for log in logs:
        topics = log["topics"]
        amount = int(log["data"], 16)
        sender, recipient = "0x" + topics[1][26:], "0x" + topics[2][26:]
        balances[sender] = get(sender, 0) - amount
        balances[recipient] = get(recipient, 0) + amount


def web3_event_api(url: str, token: str, pages: Pages) -> tuple[Balances, int]:
    """What users write first: web3.py's event API per page and a loop. Returns (balances, logs)."""
    w3 = connect(url, timeout=600)
    contract = bind(w3, "BulkTransferToken", token)
    balances: Balances = {}
    count = 0
    for first, last in pages:
        for event in contract.events.Transfer.get_logs(from_block=first, to_block=last):
            value = event["args"]["value"]
            sender, recipient = event["args"]["from"], event["args"]["to"]
            balances[sender] = balances.get(sender, 0) - value
            balances[recipient] = balances.get(recipient, 0) + value
            count += 1
    lowered = {address.lower(): amount for address, amount in balances.items()}
    lowered.pop(ZERO, None)
    return lowered, count


def lifeboat_path(url: str, token: str, rollback_block: int, last_block: int, chunk: int) -> tuple[Any, ...]:
    """Lifeboat: (before, after, logs)."""
    done = [0]
    before, after = balances_at_two_blocks(
        url, token, rollback_block, last_block, chunk=chunk, on_progress=lambda _b, logs, _c: done.__setitem__(0, logs)
    )
    return before, after, done[0]


def sequential_path(url: str, token: str, last_block: int, chunk: int) -> int:
    """Lifeboat's scan and hot loop without the prefetch thread, one snapshot. Returns logs."""
    by_topic: dict[str, int] = {}
    count = sum(
        accumulate_balances_by_topic(page.logs, by_topic)
        for page in scan_raw_transfers(url, token, 0, last_block, chunk=chunk, prefetch=False)
    )
    balances_by_address(by_topic)
    return count


def page_plan(url: str, token: str, last_block: int, *, chunk: int) -> tuple[Pages, int]:
    """The pages Lifeboat's scanner asks for (recorded from its progress callback), and the logs it saw."""
    ends: list[int] = []
    seen = [0]

    def record(_blocks: int, logs: int, end: int) -> None:
        ends.append(end)
        seen[0] = logs

    for _ in scan_raw_transfers(url, token, 0, last_block, chunk=chunk, on_progress=record):
        pass
    return list(zip([0] + [end + 1 for end in ends[:-1]], ends, strict=True)), seen[0]


# --- rounds, checks, table ----------------------------------------------------------------------

LABELS = {
    "anvil": "anvil serving the pages (bodies read, not parsed): physical floor",
    "naive": "old floor: one request at a time, json.loads, gc on",
    "floor": "fair floor: prefetch thread + json.loads with gc off",
    "plain": "fair floor + plain balance loop at both blocks",
    "lifeboat": "Lifeboat balances_at_two_blocks",
    "sequential": "  variant: Lifeboat without the prefetch thread, one snapshot",
    "web3": "web3.py events.Transfer.get_logs + loop",
}


@dataclass
class Row:
    path: str
    label: str
    logs: int
    wall: float  # medians over the rounds
    cpu: float
    anvil_cpu: float
    other_cpu: float
    gc_collections: float
    vs_floor: float  # median of the per-round ratios to the fair floor of the same round
    vs_anvil: float
    cpu_vs_floor: float  # the same, of CPU-seconds: this process's plus anvil's
    web3_over: float | None  # median per-round ratio web3 / this path, when web3 ran
    walls: list[float]
    cpus: list[float]
    anvil_cpus: list[float]
    other_cpus: list[float]


def _paired(samples: dict[str, list[Sample]], name: str, other: str) -> float:
    return statistics.median(a.wall / b.wall for a, b in zip(samples[name], samples[other], strict=True))


def _paired_cpu(samples: dict[str, list[Sample]], name: str, other: str) -> float:
    return statistics.median(
        (a.cpu + a.watched_cpu) / (b.cpu + b.watched_cpu) for a, b in zip(samples[name], samples[other], strict=True)
    )


def run(*, logs: int, accounts: int, chunk: int, rounds: int, web3: bool, sample: int, seed: int = 7) -> dict[str, Any]:
    info = machine()
    # Base fee 0: a few hundred full blocks would otherwise raise it 12.5% a block, past any fee cap.
    with Anvil(port=0, extra_args=("--base-fee", "0")) as node:
        url, anvil_pid = node.url, node.process.pid  # type: ignore[union-attr]
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

        paths: dict[str, Callable[[], Any]] = {
            "anvil": lambda: anvil_serving(url, token, pages),
            "naive": lambda: naive_floor(url, token, pages),
            "floor": lambda: fair_floor(url, token, pages),
            "plain": lambda: plain_balances(url, token, pages, rollback_block),
            "lifeboat": lambda: lifeboat_path(url, token, rollback_block, last_block, chunk),
            "sequential": lambda: sequential_path(url, token, last_block, chunk),
        }
        if web3:
            paths["web3"] = lambda: web3_event_api(url, token, pages)
        samples: dict[str, list[Sample]] = {name: [] for name in paths}
        outputs: dict[str, Any] = {}
        order = list(paths)
        for number in range(rounds):
            # A B C ... in a rotating order, so drift in the machine's load hits every path alike.
            for name in order[number % len(order) :] + order[: number % len(order)]:
                outputs.pop(name, None)  # freed before the run, not during it
                measured = timed(paths[name], watch=anvil_pid)
                outputs[name] = measured.extra.pop("result")
                samples[name].append(measured)
            print(
                f"round {number + 1}/{rounds}: "
                + ", ".join(f"{n} {samples[n][-1].wall:.2f} s/{samples[n][-1].cpu:.2f} CPU-s" for n in order),
                flush=True,
            )

        # --- agreement ---
        before, after, lifeboat_logs = outputs["lifeboat"]
        rng = random.Random(seed)
        chosen = rng.sample(sorted(after), min(sample, len(after)))
        on_chain_after = read_balances(url, token, chosen, last_block)
        on_chain_before = read_balances(url, token, chosen, rollback_block)
        plain_before, plain_after, plain_logs = outputs["plain"]
        counts = {
            "naive": outputs["naive"],
            "floor": outputs["floor"],
            "plain": plain_logs,
            "lifeboat": lifeboat_logs,
            "sequential": outputs["sequential"],
        }
        checks = {
            "sample_after_equals_balanceOf": all(after[a] == on_chain_after[a] for a in chosen),
            "sample_before_equals_balanceOf": all(before.get(a, 0) == on_chain_before[a] for a in chosen),
            "total_equals_totalSupply": sum(after.values()) == SUPPLY,
            "plain_loop_balances_equal_lifeboat": plain_before == before and plain_after == after,
        }
        if web3:
            web3_balances, counts["web3"] = outputs["web3"]
            checks["web3_balances_equal_lifeboat"] = web3_balances == after
        checks["every_path_saw_every_log"] = set(counts.values()) == {generated.logs}

    rows = [
        Row(
            path=name,
            label=LABELS[name],
            logs=generated.logs,
            wall=statistics.median(s.wall for s in runs),
            cpu=statistics.median(s.cpu for s in runs),
            anvil_cpu=statistics.median(s.watched_cpu for s in runs),
            anvil_cpus=[s.watched_cpu for s in runs],
            other_cpus=[s.other_cpu for s in runs],
            other_cpu=statistics.median(s.other_cpu for s in runs),
            gc_collections=statistics.median(s.gc_collections for s in runs),
            vs_floor=_paired(samples, name, "floor"),
            vs_anvil=_paired(samples, name, "anvil"),
            cpu_vs_floor=_paired_cpu(samples, name, "floor"),
            web3_over=_paired(samples, "web3", name) if web3 else None,
            walls=[s.wall for s in runs],
            cpus=[s.cpu for s in runs],
        )
        for name, runs in samples.items()
    ]
    by_name = {row.path: row for row in rows}
    return {
        "machine": info,
        "generation": asdict(generated),
        "pages": len(pages),
        "chunk_blocks": chunk,
        "rollback_block": rollback_block,
        "reference_block": last_block,
        "rounds": rounds,
        "sample": len(chosen),
        "rows": [asdict(row) for row in rows],
        "lifeboat_vs_floor": by_name["lifeboat"].vs_floor,
        "lifeboat_vs_anvil": by_name["lifeboat"].vs_anvil,
        "lifeboat_cpu_vs_floor": by_name["lifeboat"].cpu_vs_floor,
        "web3_over_lifeboat": by_name["lifeboat"].web3_over,
        "checks": checks,
    }


def markdown(result: dict[str, Any]) -> str:
    """The table: medians over the rounds, then the best (least disturbed) round of each path."""
    web3 = any(row["web3_over"] is not None for row in result["rows"])
    best = {row["path"]: min(row["walls"]) for row in result["rows"]}
    lines = [
        "| path | logs | wall s | CPU s (Python) | CPU s (anvil) | other CPU s | gc runs | x fair floor | x anvil "
        "| CPU x fair floor | best wall s | best x fair floor | best x anvil" + (" | web3 / path |" if web3 else " |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:"
        + (" | ---: |" if web3 else " |"),
    ]
    for row in result["rows"]:
        fastest = best[row["path"]]
        line = (
            f"| {row['label']} | {row['logs']:,} | {row['wall']:.2f} | {row['cpu']:.2f} | {row['anvil_cpu']:.2f} | "
            f"{row['other_cpu']:.2f} | {row['gc_collections']:.0f} | {row['vs_floor']:.2f}x | {row['vs_anvil']:.2f}x | "
            f"{row['cpu_vs_floor']:.2f}x | {fastest:.2f} | {fastest / best['floor']:.2f}x | "
            f"{fastest / best['anvil']:.2f}x |"
        )
        lines.append(line + (f" {row['web3_over']:.1f}x |" if web3 else ""))
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> list[str]:
    gen = result["generation"]
    lines = [
        describe(result["machine"]),
        f"generation: {gen['logs']:,} logs, {gen['accounts']:,} accounts, {gen['transactions']} txs, "
        f"{gen['blocks']} blocks, {gen['seconds']:.1f} s; {result['pages']} pages"
        f" of ≤ {result['chunk_blocks']} blocks; balances at blocks {result['rollback_block']} and "
        f"{result['reference_block']}; {result['rounds']} rounds, medians",
    ]
    line = (
        f"Lifeboat = {result['lifeboat_vs_floor']:.2f}x the fair floor's wall time (target ≤ 1.3), "
        f"{result['lifeboat_vs_anvil']:.2f}x anvil's serving time, {result['lifeboat_cpu_vs_floor']:.2f}x the "
        "fair floor's CPU-seconds (Python + anvil)"
    )
    if result["web3_over_lifeboat"] is not None:
        line += f"; web3 = {result['web3_over_lifeboat']:.1f}x Lifeboat (target ≥ 40)"
    lines.append(line)
    lines += [f"check {name}: {'ok' if ok else 'FAILED'}" for name, ok in result["checks"].items()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000, help="Transfer logs to generate (default 1,000,000)")
    parser.add_argument("--accounts", type=int, default=100_000, help="distinct recipients (default 100,000)")
    parser.add_argument("--chunk", type=int, default=4, help="blocks per eth_getLogs page (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path, interleaved; medians reported")
    parser.add_argument("--no-web3", action="store_true", help="leave out the web3.py path (slow: ~1 ms a log)")
    parser.add_argument("--sample", type=int, default=1_000, help="accounts checked against balanceOf")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the table of a saved run and stop")
    args = parser.parse_args()
    if args.show:
        saved = json.loads(args.show.read_text())
        print(markdown(saved))
        print()
        print("\n".join(summary(saved)))
        return 0 if all(saved["checks"].values()) else 1
    if args.logs < args.accounts:
        parser.error("--logs must be at least --accounts (every account receives one transfer first)")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    result = run(
        logs=args.logs,
        accounts=args.accounts,
        chunk=args.chunk,
        rounds=args.rounds,
        web3=not args.no_web3,
        sample=args.sample,
    )
    print()
    print(markdown(result))
    print()
    print("\n".join(summary(result)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
