"""Margin positions at a block: rebuilt from AccountUpdated events against accountOf by eth_call.

    python benchmarks/margin_positions_bench.py [--accounts 100000] [--rounds 3] [--web3-sample 2000]
                                                [--json OUT]
    python benchmarks/margin_positions_bench.py --show OUT     # the table of a saved run again

Starts its own anvil, deploys a demo asset, feed and ``MarginMarket`` (the deployer as admin
with RESTORER_ROLE) and fills ``--accounts`` accounts with ``restorePositions`` in large
batches (a spread of collateral, debt, longs, shorts, margins and funding debts), then moves
the price and the funding index. Then, in rounds, A B C ... A B C, each round in a rotated order:

- ``floor``: the AccountUpdated log pages Lifeboat's scanner asks for, fetched (one thread a
  page ahead) and parsed, nothing else: no reader of the events can be faster;
- ``lifeboat``: ``chain.margin_positions.scan_accounts``: every account's state at the block;
- ``eth_call``: ``chain.margin_positions.read_accounts_by_call``: ``accountOf`` of every account at
  the block with the same tricks (JSON-RPC batches of 200, one thread a batch ahead, raw words,
  no ABI decoding), given the account list for free (without the events it has none);
- ``web3``: ``contract.functions.accountOf(a).call(block_identifier=B)`` one account at a time,
  what users write first, timed on ``--web3-sample`` accounts and scaled to all of them (reported
  as such).

Wall seconds, this process's CPU-seconds and anvil's; medians over the rounds and paired ratios.
Checks: Lifeboat's accounts equal the eth_call path's for EVERY account, and the web3 sample.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cputime import Sample, describe, machine, timed
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind, factory
from chain.keys import load_account
from chain.logs import RawRpc, scan_raw_logs
from chain.margin import ACCOUNT_UPDATED, POSITION_TUPLE, MarginAccount, RestoreRow
from chain.margin_positions import cross_check, read_accounts_by_call, scan_accounts
from chain.rpc import connect
from chain.transact import send

RESTORE = function_signature_to_4byte_selector(f"restorePositions({POSITION_TUPLE}[])")
FIRST_ACCOUNT = 0x2000_0000_0000  # accounts are FIRST_ACCOUNT + i: no precompiles, no dev accounts
ROWS_PER_TX = 300  # ~140k gas a fresh row (six storage slots and the event): ~42M of anvil's 60M
FEES = {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "value": 0}
LABELS = {
    "floor": "floor: log pages fetched and parsed, nothing kept",
    "lifeboat": "Lifeboat scan_accounts (events)",
    "eth_call": "accountOf by batched eth_call (same tricks)",
    "web3": "web3.py accountOf().call per account (scaled from a sample)",
}


def bench_row(index: int) -> RestoreRow:
    """Account ``index``'s deterministic book: a fifth each collateral-only, borrower, long, short, mixed."""
    account = "0x" + f"{FIRST_ACCOUNT + index:040x}"
    kind, spread = index % 5, (index * 7_919) % 10_000
    collateral = (100 + spread) * 10**6 + index
    if kind == 0:
        return RestoreRow(account, collateral, 0, 0, 0, 0, 0)
    if kind == 1:
        return RestoreRow(account, collateral, collateral // 2, 0, 0, 0, 0)
    size = (50 + spread // 3) * 10**6 * (1 if kind != 3 else -1)
    entry = 90_000_000 + spread * 2_000
    debt = collateral // 5 if kind == 4 else 0
    return RestoreRow(account, collateral, debt, size, entry, abs(size) // 10, spread * 10**12)


def generate(url: str, accounts: int) -> dict[str, Any]:
    """Deploy and restore ``accounts`` rows; returns the market, its first block and the last block."""
    started = time.perf_counter()
    w3 = connect(url, timeout=300)
    rpc = RawRpc(url, timeout=300)
    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    asset = bind(
        w3, "DemoAsset", send(w3, deployer, factory(w3, "DemoAsset").constructor(deployer.address))["contractAddress"]
    )
    feed = bind(
        w3,
        "DemoPriceFeed",
        send(w3, deployer, factory(w3, "DemoPriceFeed").constructor(deployer.address, 8, "dUSD / USD", 10**8))[
            "contractAddress"
        ],
    )
    receipt = send(
        w3,
        deployer,
        factory(w3, "MarginMarket").constructor(
            asset.address, feed.address, deployer.address, deployer.address, "Bench credit", "bCR"
        ),
    )
    market = bind(w3, "MarginMarket", receipt["contractAddress"])
    send(w3, deployer, market.functions.grantRole(market.functions.RESTORER_ROLE().call(), deployer.address))
    rows = [bench_row(i) for i in range(accounts)]
    send(w3, deployer, asset.functions.mint(deployer.address, sum(r.asset_needed for r in rows)))
    send(w3, deployer, asset.functions.approve(market.address, 2**256 - 1))
    chain_id = int(w3.eth.chain_id)
    nonce = w3.eth.get_transaction_count(deployer.address, "pending")
    raw = []
    gas = None
    for offset in range(0, accounts, ROWS_PER_TX):
        group = [row.as_tuple() for row in rows[offset : offset + ROWS_PER_TX]]
        data = "0x" + (RESTORE + abi_encode([f"{POSITION_TUPLE}[]"], [group])).hex()
        if gas is None:
            estimate = int(
                rpc.call("eth_estimateGas", [{"from": deployer.address, "to": market.address, "data": data}]), 16
            )
            gas = estimate + estimate // 10
        tx = {"to": market.address, "data": data, "nonce": nonce, "gas": gas, "chainId": chain_id, **FEES}
        raw.append("0x" + deployer.sign_transaction(tx).raw_transaction.hex())
        nonce += 1
    hashes = []
    for offset in range(0, len(raw), 4):  # anvil refuses bodies of a few MB
        for reply in rpc.batch([("eth_sendRawTransaction", [tx]) for tx in raw[offset : offset + 4]]):
            if "error" in reply:
                raise RuntimeError(f"eth_sendRawTransaction failed: {reply['error']}")
            hashes.append(reply["result"])
    # Automine mines a block as a tx arrives, but two of these do not fit in one block: what is left
    # in the pool waits for the next block, so mine until the pool is empty.
    for _ in range(len(raw) + 1):
        status = rpc.call("txpool_status", [])
        if not int(status["pending"], 16) + int(status["queued"], 16):
            break
        rpc.call("anvil_mine", ["0x1"])
    # Every receipt is checked: a reverted batch restores nothing.
    for tx_hash in hashes:
        if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=600, poll_latency=0.05)["status"] != 1:
            raise RuntimeError(f"restorePositions {tx_hash} reverted")
    send(w3, deployer, feed.functions.setAnswer(93_000_000))
    send(w3, deployer, market.functions.accrueFunding(7 * 10**15))
    rpc.close()
    return {
        "market": market.address,
        "deployed_at": receipt["blockNumber"],
        "block": w3.eth.block_number,
        "transactions": len(raw),
        "accounts": accounts,
        "seconds": time.perf_counter() - started,
    }


def floor_path(url: str, market: str, first: int, last: int, chunk: int) -> int:
    logs = 0
    for page in scan_raw_logs(url, market, [ACCOUNT_UPDATED], first, last, chunk=chunk):
        logs += len(page.logs)
    return logs


def web3_path(url: str, market: str, accounts: list[str], block: int) -> dict[str, MarginAccount]:
    w3 = connect(url, timeout=300)
    contract = bind(w3, "MarginMarket", market)
    result = {}
    for account in accounts:
        words = contract.functions.accountOf(w3.to_checksum_address(account)).call(block_identifier=block)
        result[account] = MarginAccount(*words)
    return result


def _paired(samples: dict[str, list[Sample]], name: str, other: str, *, cpu: bool = False) -> float:
    def cost(s: Sample) -> float:
        return s.cpu + s.watched_cpu if cpu else s.wall

    return statistics.median(cost(a) / cost(b) for a, b in zip(samples[name], samples[other], strict=True))


def run(*, accounts: int, rounds: int, chunk: int, web3_sample: int, sample: int) -> dict[str, Any]:
    info = machine()
    with Anvil(port=0, extra_args=("--base-fee", "0")) as node:
        url, anvil_pid = node.url, node.process.pid  # type: ignore[union-attr]
        print(f"anvil on {url}; restoring {accounts:,} margin accounts ...", flush=True)
        generated = generate(url, accounts)
        print(
            f"generated {accounts:,} accounts in {generated['transactions']} restorePositions txs "
            f"in {generated['seconds']:.1f} s",
            flush=True,
        )
        market, first, block = generated["market"], generated["deployed_at"], generated["block"]
        everyone = ["0x" + f"{FIRST_ACCOUNT + i:040x}" for i in range(accounts)]
        chosen = everyone[:: max(1, accounts // web3_sample)][:web3_sample] if web3_sample else []

        def by_call() -> dict[str, MarginAccount]:
            with RawRpc(url, timeout=300) as rpc:
                return read_accounts_by_call(rpc, market, everyone, block)

        paths: dict[str, Callable[[], Any]] = {
            "floor": lambda: floor_path(url, market, first, block, chunk),
            "lifeboat": lambda: scan_accounts(url, market, first, block, chunk=chunk),
            "eth_call": by_call,
        }
        if chosen:
            paths["web3"] = lambda: web3_path(url, market, chosen, block)
        floor_path(url, market, first, block, chunk)  # warm anvil up
        samples: dict[str, list[Sample]] = {name: [] for name in paths}
        outputs: dict[str, Any] = {}
        order = list(paths)
        for number in range(rounds):
            for name in order[number % len(order) :] + order[: number % len(order)]:
                outputs.pop(name, None)
                measured = timed(paths[name], watch=anvil_pid)
                outputs[name] = measured.extra.pop("result")
                samples[name].append(measured)
            print(
                f"round {number + 1}/{rounds}: "
                + ", ".join(f"{n} {samples[n][-1].wall:.2f} s/{samples[n][-1].cpu:.2f} CPU-s" for n in order),
                flush=True,
            )
        rebuilt = outputs["lifeboat"]
        with RawRpc(url, timeout=300) as rpc:
            checked = cross_check(rpc, market, rebuilt, block, sample=sample)
        checks = {
            "every_account_equals_accountOf": rebuilt == outputs["eth_call"] and len(rebuilt) == accounts,
            "floor_saw_one_log_per_account": outputs["floor"] == accounts,
            "cross_check_passed": checked > 0,
        }
        if chosen:
            checks["web3_sample_equals_lifeboat"] = all(outputs["web3"][a] == rebuilt[a] for a in chosen)
    scale = dict.fromkeys(paths, 1.0)
    if chosen:
        scale["web3"] = accounts / len(chosen)
    rows = []
    for name, runs in samples.items():
        factor = scale[name]
        rows.append(
            {
                "path": name,
                "label": LABELS[name],
                "accounts": len(chosen) if name == "web3" else accounts,
                "scaled": factor != 1.0,
                "wall": statistics.median(s.wall for s in runs) * factor,
                "cpu": statistics.median(s.cpu for s in runs) * factor,
                "anvil_cpu": statistics.median(s.watched_cpu for s in runs) * factor,
                "other_cpu": statistics.median(s.other_cpu for s in runs) * factor,
                "vs_floor": _paired(samples, name, "floor") * factor,
                "vs_lifeboat": _paired(samples, name, "lifeboat") * factor,
                "cpu_vs_lifeboat": _paired(samples, name, "lifeboat", cpu=True) * factor,
                "walls": [s.wall for s in runs],
                "cpus": [s.cpu for s in runs],
            }
        )
    return {
        "machine": info,
        "generation": generated,
        "chunk_blocks": chunk,
        "rounds": rounds,
        "web3_sample": len(chosen),
        "rows": rows,
        "checks": checks,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| path | accounts timed | wall s | CPU s (Python) | CPU s (anvil) | other CPU s | x floor | x Lifeboat "
        "| CPU x Lifeboat (Python + anvil) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        mark = " (scaled)" if row["scaled"] else ""
        lines.append(
            f"| {row['label']} | {row['accounts']:,} | {row['wall']:.2f}{mark} | {row['cpu']:.2f} "
            f"| {row['anvil_cpu']:.2f} | {row['other_cpu']:.2f} | {row['vs_floor']:.2f}x | {row['vs_lifeboat']:.2f}x "
            f"| {row['cpu_vs_lifeboat']:.2f}x |"
        )
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> list[str]:
    gen = result["generation"]
    lines = [
        describe(result["machine"]),
        f"generation: {gen['accounts']:,} accounts in {gen['transactions']} restorePositions txs, "
        f"{gen['seconds']:.1f} s; positions at block {gen['block']}; pages of ≤ {result['chunk_blocks']} blocks; "
        f"{result['rounds']} rounds, medians",
    ]
    lines += [f"check {name}: {'ok' if ok else 'FAILED'}" for name, ok in result["checks"].items()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="margin accounts to restore (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path, interleaved; medians reported")
    parser.add_argument("--chunk", type=int, default=8, help="blocks per eth_getLogs page (default 8)")
    parser.add_argument("--web3-sample", type=int, default=2_000, help="accounts the web3.py path reads (0: none)")
    parser.add_argument("--sample", type=int, default=1_000, help="accounts the cross-check compares")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the table of a saved run and stop")
    args = parser.parse_args()
    if args.show:
        saved = json.loads(args.show.read_text())
    else:
        if args.accounts < 1:
            parser.error("--accounts must be at least 1")
        saved = run(
            accounts=args.accounts,
            rounds=args.rounds,
            chunk=args.chunk,
            web3_sample=min(args.web3_sample, args.accounts),
            sample=args.sample,
        )
        if args.json:
            args.json.write_text(json.dumps(saved, indent=2))
    print(markdown(saved))
    print()
    print("\n".join(summary(saved)))
    return 0 if all(saved["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
