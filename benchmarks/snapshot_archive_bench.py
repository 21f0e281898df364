"""State snapshots: archiving 100,000 accounts, and impact reconstruction from a snapshot against a full replay.

    python benchmarks/snapshot_archive_bench.py [--logs 1000000] [--accounts 100000] [--after-logs 20000]
                                                [--rounds 3] [--json OUT]

Starts its own anvil and makes the reconstruction benchmark's synthetic data
(``reconstruction_bench.generate``: ``--logs`` Transfer logs of ``BulkTransferToken`` over
``--accounts`` recipients). The snapshot is taken at the last block of that history (block S);
then ``--after-logs`` more transfers follow over the same accounts. Timed, in interleaved
rounds:

- ``snapshot``: what ``archive.services.take_snapshot`` does for one token, without the
  database: the Transfer-log replay to block S (``chain.balances.balances_at``), the canonical
  file and its StandardMerkleTree root (``archive.document``), and writing the file. Reported
  with its bytes, leaves and the parts' seconds;
- ``from-snapshot``: the impact analysis' replay (``balances_at_two_blocks``, balances at a
  rollback block between S and the head and at the head) starting from the snapshot's balances
  as the analysis loads them (the packed ``BalanceSnapshot`` blob, unpacked), so it scans only
  the logs after S;
- ``full-replay``: the same replay from block 0, over every log.

Checks: the two replays give identical balances at both blocks; the snapshot's leaves sum to
``totalSupply`` at S; a sample of leaves equals ``balanceOf`` at S; the file reads back to the
same root.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cputime import Sample, describe, machine, timed
from eth_utils import to_checksum_address
from reconstruction_bench import EXISTING_PER_TX, FIRST_RECIPIENT, _send_all, _signed, _spray_calldata, generate

from archive.document import build_content, decode_snapshot, encode_snapshot, snapshot_root
from chain import devkeys
from chain.anvil import Anvil
from chain.balances import TOTAL_SUPPLY, balances_at, balances_at_two_blocks, read_balances
from chain.keys import load_account
from chain.logs import RawRpc, scan_raw_transfers
from chain.replay import pack_balances, unpack_balances


def spray_after(url: str, token: str, *, logs: int, accounts: int) -> int:
    """``logs`` more transfers from the deployer over the existing recipients; returns the new head."""
    rpc = RawRpc(url, timeout=300)
    token = to_checksum_address(token)
    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    chain_id = int(rpc.call("eth_chainId", []), 16)
    nonce = int(rpc.call("eth_getTransactionCount", [deployer.address, "pending"]), 16)
    probe = _spray_calldata(FIRST_RECIPIENT, min(EXISTING_PER_TX, accounts), 1)
    gas = int(rpc.call("eth_estimateGas", [{"from": deployer.address, "to": token, "data": probe}]), 16)
    gas += gas // 20 + 50_000
    raw, sent, start = [], 0, accounts // 3
    while sent < logs:
        first = (start + sent) % accounts
        count = min(EXISTING_PER_TX, accounts - first, logs - sent)
        data = _spray_calldata(FIRST_RECIPIENT + first, count, 1 + sent % 977)
        raw.append(_signed(deployer, to=token, data=data, nonce=nonce, gas=gas, chain_id=chain_id))
        nonce += 1
        sent += count
    _send_all(rpc, raw)
    head = int(rpc.call("eth_blockNumber", []), 16)
    rpc.close()
    return head


def count_logs(url: str, token: str, first: int, last: int) -> int:
    return sum(len(page.logs) for page in scan_raw_transfers(url, token, first, last))


def take(url: str, token: str, block: int, block_hash: str, folder: Path) -> dict[str, Any]:
    """The snapshot of one token at ``block``, as ``take_snapshot`` computes it; the parts timed apart."""
    started = time.perf_counter()
    balances = balances_at(url, token, block)
    replayed = time.perf_counter()
    content = build_content(chain_id=31337, block=block, block_hash=block_hash, balances={token: balances})
    encoded = encode_snapshot(content)
    encoded_at = time.perf_counter()
    path = folder / f"{encoded.sha256}.json.gz"
    path.write_bytes(encoded.data)
    written = time.perf_counter()
    return {
        "balances": balances,
        "content": content,
        "encoded": encoded,
        "path": path,
        "parts": {"replay": replayed - started, "file_and_root": encoded_at - replayed, "write": written - encoded_at},
    }


def run(*, logs: int, accounts: int, after_logs: int, rounds: int) -> dict[str, Any]:
    info = machine()
    with Anvil(port=0, extra_args=("--base-fee", "0")) as node, tempfile.TemporaryDirectory() as tmp:
        url, anvil_pid = node.url, node.process.pid  # type: ignore[union-attr]
        print(f"anvil on {url}; generating {logs:,} Transfer logs over {accounts:,} accounts ...", flush=True)
        generated = generate(url, logs=logs, accounts=accounts)
        token, snapshot_block = generated.token, generated.blocks
        rpc = RawRpc(url, timeout=300)
        block_hash = rpc.call("eth_getBlockByNumber", [hex(snapshot_block), False])["hash"]
        supply = int(rpc.call("eth_call", [{"to": token, "data": TOTAL_SUPPLY}, hex(snapshot_block)]), 16)
        print(f"generated {generated.logs:,} logs in {generated.seconds:.0f} s; snapshot block {snapshot_block}")
        head = spray_after(url, token, logs=after_logs, accounts=accounts)
        rollback_block = (snapshot_block + head) // 2
        logs_after = count_logs(url, token, snapshot_block + 1, head)
        logs_all = count_logs(url, token, 0, head)
        print(
            f"{logs_after:,} logs after the snapshot ({head - snapshot_block} blocks), {logs_all:,} in all", flush=True
        )

        folder = Path(tmp)
        stored: dict[str, Any] = {}

        def snapshot() -> dict[str, Any]:
            result = take(url, token, snapshot_block, block_hash, folder)
            stored["blob"] = pack_balances(result["balances"])  # what take_snapshot stores for analyses
            return result

        def from_snapshot() -> tuple[dict[str, int], dict[str, int]]:
            start = unpack_balances(stored["blob"])
            return balances_at_two_blocks(url, token, rollback_block, head, from_block=snapshot_block + 1, start=start)

        def full_replay() -> tuple[dict[str, int], dict[str, int]]:
            return balances_at_two_blocks(url, token, rollback_block, head, from_block=0)

        paths = {"snapshot": snapshot, "from-snapshot": from_snapshot, "full-replay": full_replay}
        samples: dict[str, list[Sample]] = {name: [] for name in paths}
        outputs: dict[str, Any] = {}
        snapshot_parts: list[dict[str, float]] = []
        snapshot()  # warm up (and the blob the first from-snapshot round needs)
        for index in range(rounds):
            names = list(paths)
            names = names[index % len(names) :] + names[: index % len(names)]
            for name in names:
                sample = timed(paths[name], watch=anvil_pid)
                outputs[name] = sample.extra.pop("result")
                if name == "snapshot":
                    snapshot_parts.append(outputs[name]["parts"])
                samples[name].append(sample)
                print(f"  round {index + 1} {name}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU", flush=True)

        taken = outputs["snapshot"]
        encoded = taken["encoded"]
        reread = decode_snapshot(taken["path"].read_bytes())
        leaves = {account.lower(): amount for account, _, amount in encoded.content.leaves}
        sample_accounts = sorted(leaves)[:: max(1, len(leaves) // 200)]
        on_chain = read_balances(url, token, sample_accounts, snapshot_block)
        checks = {
            "replay_from_snapshot_equals_full_replay": outputs["from-snapshot"] == outputs["full-replay"],
            "leaves_sum_to_total_supply": sum(leaves.values()) == supply,
            "sampled_leaves_equal_balance_of": all(on_chain[a] == leaves[a] for a in sample_accounts),
            "file_reads_back_to_the_same_root": snapshot_root(reread.leaves) == encoded.root,
        }
        rpc.close()

    def row(name: str) -> dict[str, Any]:
        runs = samples[name]
        return {
            "path": name,
            "wall_seconds": statistics.median(s.wall for s in runs),
            "cpu_seconds": statistics.median(s.cpu for s in runs),
            "anvil_cpu_seconds": statistics.median(s.watched_cpu for s in runs),
            "other_cpu_seconds": statistics.median(s.other_cpu for s in runs),
        }

    return {
        "machine": info,
        "logs": logs_all,
        "logs_after_snapshot": logs_after,
        "accounts": accounts,
        "snapshot_block": snapshot_block,
        "rollback_block": rollback_block,
        "head": head,
        "rounds": rounds,
        "snapshot": {
            "leaves": len(encoded.content.leaves),
            "bytes": encoded.size_bytes,
            "root": encoded.root,
            "sha256": encoded.sha256,
            "parts_median_seconds": {
                part: statistics.median(p[part] for p in snapshot_parts) for part in snapshot_parts[0]
            },
        },
        "rows": [row(name) for name in paths],
        "checks": checks,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        describe(result["machine"]),
        "",
        f"{result['accounts']:,} accounts, {result['logs']:,} Transfer logs; snapshot at block "
        f"{result['snapshot_block']}, {result['logs_after_snapshot']:,} logs after it; medians of "
        f"{result['rounds']} round(s)",
        "",
        "| path | logs replayed | wall s | CPU s | anvil CPU s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    replayed = {
        "snapshot": result["logs"] - result["logs_after_snapshot"],
        "from-snapshot": result["logs_after_snapshot"],
        "full-replay": result["logs"],
    }
    for row in result["rows"]:
        lines.append(
            f"| {row['path']} | {replayed[row['path']]:,} | {row['wall_seconds']:.2f} | {row['cpu_seconds']:.2f} "
            f"| {row['anvil_cpu_seconds']:.2f} |"
        )
    snap = result["snapshot"]
    parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in snap["parts_median_seconds"].items())
    lines += [
        "",
        f"snapshot file: {snap['bytes']:,} bytes for {snap['leaves']:,} leaves ({parts})",
        "checks: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in result["checks"].items()),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000, help="Transfer logs before the snapshot")
    parser.add_argument("--accounts", type=int, default=100_000, help="distinct recipients (default 100,000)")
    parser.add_argument("--after-logs", type=int, default=20_000, help="Transfer logs after the snapshot")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path, interleaved; medians reported")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.logs < args.accounts:
        parser.error("--logs must be at least --accounts (every account receives one transfer first)")
    if args.rounds < 1 or args.after_logs < 1:
        parser.error("--rounds and --after-logs must be at least 1")
    result = run(logs=args.logs, accounts=args.accounts, after_logs=args.after_logs, rounds=args.rounds)
    print()
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
