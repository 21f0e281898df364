"""Indexing VoteCast events: Lifeboat's indexer against the physical floor and web3.py's event API.

    python benchmarks/indexing_bench.py [--votes 10000] [--per-tx 500] [--chunk 2] [--rounds 5] [--json OUT]

Starts its own anvil, deploys ``BulkVoteCast`` (contracts/src/test/: it emits IGovernor's own
``VoteCast`` and, every tenth vote, ``VoteCastWithParams``, byte for byte what a Governor logs)
and emits ``--votes`` votes on one proposal, ``--per-tx`` a transaction (one block each), with
reasons of varying length. Then, on the same data and the same block ranges (``--chunk``
blocks a page: the pages Lifeboat's reader asks for), it runs in rounds, each round in a
rotated order:

- ``anvil``: the node's own serving time: each page requested, its body read and dropped,
  nothing parsed: the physical floor;
- ``floor``: the pages fetched one ahead on a thread and parsed with the collector off, no
  decoding: the fair floor of any Python client;
- ``lifeboat``: ``chain.logs.scan_raw_logs`` + ``chain.votes.decode_votes``: what
  ``follow_publication`` does before storing (one query for both vote events, sliced hex);
- ``web3``: ``contract.events.VoteCast.get_logs(from_block, to_block)`` and the same for
  ``VoteCastWithParams`` per page: what a user writes first, producing the same tuples.

Same process, same pages, the garbage collector in the same state at each start (enabled,
collected just before). Each run records wall seconds, this process's CPU-seconds (all
threads), anvil's CPU-seconds and the rest of the machine's. Checks: every path saw every
vote, and web3.py's decoded votes equal Lifeboat's, field by field. The database writes of
the indexer are not included (see benchmarks/storing_bench.py for ORM bulk inserts).
"""

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cputime import Sample, describe, machine, timed

from chain import devkeys
from chain.anvil import Anvil
from chain.artifacts import bind, factory
from chain.keys import load_account
from chain.logs import RawRpc, collector_paused, prefetched, scan_raw_logs
from chain.rpc import connect
from chain.transact import send
from chain.votes import VOTE_CAST_TOPIC, VOTE_CAST_WITH_PARAMS_TOPIC, decode_votes

PROPOSAL_ID = 0x5E1F_C0DE_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001
FIRST_VOTER = 0x7000_0000_0000
PARAMS_EVERY = 10
Pages = list[tuple[int, int]]
VoteTuple = tuple[Any, ...]


def generate(url: str, *, votes: int, per_tx: int) -> tuple[str, int, int]:
    """Deploy BulkVoteCast and emit ``votes`` votes; (contract, first block, last block)."""
    w3 = connect(url, timeout=300)
    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    contract = send(w3, deployer, factory(w3, "BulkVoteCast").constructor())["contractAddress"]
    emitter = bind(w3, "BulkVoteCast", contract)
    first = w3.eth.block_number + 1
    for number, offset in enumerate(range(0, votes, per_tx)):
        reason = ["", "for the recovery", "ünïcode reason ✓ " * (number % 4)][number % 3]
        call = emitter.functions.emitVotes(
            PROPOSAL_ID, FIRST_VOTER + offset, min(per_tx, votes - offset), reason, PARAMS_EVERY, b"\x01" * 40
        )
        send(w3, deployer, call, tx={"gas": 29_000_000})
    return contract, first, w3.eth.block_number


def _body(session: requests.Session, url: str, contract: str, first: int, last: int) -> bytes:
    query = {
        "address": contract,
        "topics": [[VOTE_CAST_TOPIC, VOTE_CAST_WITH_PARAMS_TOPIC]],
        "fromBlock": hex(first),
        "toBlock": hex(last),
    }
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}).encode()
    with session.post(url, data=payload, headers={"Content-Type": "application/json"}, stream=True) as response:
        return response.raw.read(decode_content=True)


def anvil_serving(url: str, contract: str, pages: Pages) -> int:
    with requests.Session() as session:
        return sum(len(_body(session, url, contract, first, last)) for first, last in pages)


def fair_floor(url: str, contract: str, pages: Pages) -> int:
    """The pages fetched by a thread one ahead, each parsed with the collector off; the votes seen."""
    with requests.Session() as session:
        count = 0
        for body in prefetched(_body(session, url, contract, first, last) for first, last in pages):
            with collector_paused():
                count += len(json.loads(body)["result"])
        return count


def lifeboat(url: str, contract: str, first: int, last: int, chunk: int) -> list[VoteTuple]:
    votes = []
    with RawRpc(url, timeout=300) as rpc:
        for page in scan_raw_logs(
            rpc, [contract], [VOTE_CAST_TOPIC, VOTE_CAST_WITH_PARAMS_TOPIC], first, last, chunk=chunk
        ):
            votes += decode_votes(page.logs, governor=contract, proposal_id=PROPOSAL_ID)
    return [
        (v.block_number, v.log_index, v.voter, v.support, v.weight, v.reason, v.params, v.tx_hash, v.block_hash)
        for v in votes
    ]


def web3_event_api(url: str, contract: str, pages: Pages) -> list[VoteTuple]:
    w3 = connect(url, timeout=600)
    events = bind(w3, "LifeboatGovernor", contract).events
    votes = []
    for first, last in pages:
        found = [*events.VoteCast.get_logs(from_block=first, to_block=last)]
        found += events.VoteCastWithParams.get_logs(from_block=first, to_block=last)
        for event in found:
            args = event["args"]
            if args["proposalId"] != PROPOSAL_ID:
                continue
            votes.append(
                (
                    event["blockNumber"],
                    event["logIndex"],
                    args["voter"],
                    args["support"],
                    args["weight"],
                    args["reason"],
                    "0x" + args["params"].hex() if "params" in args else None,
                    event["transactionHash"].to_0x_hex(),
                    event["blockHash"].to_0x_hex(),
                )
            )
    votes.sort(key=lambda vote: (vote[0], vote[1]))
    return votes


def page_plan(first: int, last: int, chunk: int) -> Pages:
    return [(start, min(last, start + chunk - 1)) for start in range(first, last + 1, chunk)]


def _fresh_gc() -> None:
    gc.collect()
    gc.enable()


def run(*, votes: int, per_tx: int, chunk: int, rounds: int) -> dict[str, Any]:
    info = machine()
    anvil = Anvil(port=0).start()
    try:
        started = time.perf_counter()
        contract, first, last = generate(anvil.url, votes=votes, per_tx=per_tx)
        generated = time.perf_counter() - started
        pages = page_plan(first, last, chunk)
        pid = anvil.process.pid  # type: ignore[union-attr]
        paths = {
            "anvil": lambda: anvil_serving(anvil.url, contract, pages),
            "floor": lambda: fair_floor(anvil.url, contract, pages),
            "lifeboat": lambda: lifeboat(anvil.url, contract, first, last, chunk),
            "web3": lambda: web3_event_api(anvil.url, contract, pages),
        }
        samples: dict[str, list[Sample]] = {name: [] for name in paths}
        results: dict[str, Any] = {}
        names = list(paths)
        for number in range(rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            for name in order:
                _fresh_gc()
                sample = timed(paths[name], watch=pid)
                results[name] = sample.extra.pop("result")
                samples[name].append(sample)
    finally:
        anvil.stop()
    checks = {
        "floor_saw_every_vote": results["floor"] == votes,
        "lifeboat_saw_every_vote": len(results["lifeboat"]) == votes,
        "web3_votes_equal_lifeboat": results["web3"] == results["lifeboat"],
    }
    rows = []
    for name, runs in samples.items():
        rows.append(
            {
                "path": name,
                "wall": statistics.median(s.wall for s in runs),
                "cpu": statistics.median(s.cpu for s in runs),
                "anvil_cpu": statistics.median(s.watched_cpu for s in runs),
                "other_cpu": statistics.median(s.other_cpu for s in runs),
                "best_wall": min(s.wall for s in runs),
                "x_web3_paired": statistics.median(
                    w.wall / s.wall for w, s in zip(samples["web3"], runs, strict=True) if s.wall
                ),
                "cpu_x_web3_paired": statistics.median(
                    w.cpu / s.cpu for w, s in zip(samples["web3"], runs, strict=True) if s.cpu
                ),
            }
        )
    return {
        "machine": info,
        "votes": votes,
        "per_tx": per_tx,
        "chunk": chunk,
        "pages": len(pages),
        "blocks": last - first + 1,
        "rounds": rounds,
        "generation_seconds": generated,
        "rows": rows,
        "checks": checks,
    }


LABELS = {
    "anvil": "anvil serving (bodies read, not parsed): the physical floor",
    "floor": "fair floor: prefetch thread, parsed with gc off, no decoding",
    "lifeboat": "**Lifeboat** `scan_raw_logs` + `decode_votes`",
    "web3": "web3.py `events.VoteCast.get_logs` (+ `VoteCastWithParams`) per page",
}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['votes']:,} votes in {result['blocks']} blocks, {result['pages']} pages of {result['chunk']} blocks, "
        f"{result['rounds']} rounds (medians)",
        "",
        "| path | wall s | CPU s Python | CPU s anvil | other CPU s | best wall s "
        "| web3 / path (wall) | web3 / path (CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {LABELS[row['path']]} | {row['wall']:.3f} | {row['cpu']:.3f} | {row['anvil_cpu']:.3f} | "
            f"{row['other_cpu']:.3f} | {row['best_wall']:.3f} | {row['x_web3_paired']:.1f}x | "
            f"{row['cpu_x_web3_paired']:.1f}x |"
        )
    lines.append("")
    lines.append("checks: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in result["checks"].items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=10_000, help="votes to emit (default 10,000)")
    parser.add_argument("--per-tx", type=int, default=500, help="votes per transaction, one block each")
    parser.add_argument("--chunk", type=int, default=2, help="blocks per eth_getLogs page (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every path, interleaved; medians reported")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    print(describe(machine()), flush=True)
    result = run(votes=args.votes, per_tx=args.per_tx, chunk=args.chunk, rounds=args.rounds)
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
