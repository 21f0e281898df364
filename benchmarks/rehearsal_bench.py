"""The rehearsal of a 10,000-account plan on a fork, against the physical floor on the chain itself.

    python benchmarks/rehearsal_bench.py [--accounts 10000] [--rounds 3] [--json OUT]

On a fresh dev chain (anvil with the demo stack: governor, timelock, RecoveryExecutor and the
migrated token it mints), a synthetic restore-mode plan pays ``--accounts`` fresh accounts:
batches planned by ``recovery.batching.plan_batches`` with the plans' gas figures and a 10M gas
ceiling, committed by ``recovery.commitment.build_commitment``, approved by the proposal's
``approvePlan`` call (``proposals.calls.proposal_calls``). Two paths, in interleaved rounds:

- ``rehearsal``: Lifeboat's ``chain.rehearsal``: fork the chain at its head (a second anvil),
  impersonate the timelock and run the proposal's calls, check the executor's role, run every
  batch with its proof, read every recipient's balance before and after and check each rose by
  exactly its allocation, decode the called contracts' events, stop the fork;
- ``floor``: the same transactions (``approvePlan``, then ``executeBatch`` for every batch) sent
  directly to the chain itself with no checks (one ``eth_sendTransaction`` and its receipt
  each), plus the same balance reads before and after; the chain is put back
  (``evm_snapshot``/``evm_revert``) after each run.

The table gives medians of wall seconds, this process's CPU-seconds (for the rehearsal this
includes the fork anvil, a child reaped when it stops), the parent anvil's CPU-seconds (read from
``/proc``; for the rehearsal it serves the fork's state reads) and the rest of the machine's.
Both paths must see every balance rise by exactly its allocation, or the run exits non-zero.
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()  # only for recovery.plans' gas figures: no database is used

from cputime import Sample, describe, machine, measured  # noqa: E402

from chain import devkeys  # noqa: E402
from chain.anvil import Anvil  # noqa: E402
from chain.balances import read_balances  # noqa: E402
from chain.demo import deploy_demo_stack  # noqa: E402
from chain.keys import load_account  # noqa: E402
from chain.logs import RawRpc  # noqa: E402
from chain.rehearsal import (  # noqa: E402
    BatchToRun,
    RehearsalScript,
    execute_batch_calldata,
    fork_point,
    forked,
    rehearse_on_fork,
    wait_for_receipt,
)
from chain.rpc import connect  # noqa: E402
from proposals.calls import proposal_calls  # noqa: E402
from recovery.batching import plan_batches  # noqa: E402
from recovery.commitment import CommitmentDomain, build_commitment  # noqa: E402
from recovery.plans import (  # noqa: E402
    GAS_BASE,
    GAS_PER_EXISTING_RECIPIENT,
    GAS_PER_NEW_RECIPIENT,
    incident_key,
)

GAS_CEILING = 10_000_000
PLAN_ID = 1
LABELS = {
    "rehearsal": "Lifeboat rehearsal: fork, calls, role check, every batch, every balance checked, fork stopped",
    "floor": "floor: the same transactions sent to the chain itself, no checks, + the same balance reads",
}


def allocations(count: int) -> list[tuple[str, int]]:
    """``count`` fresh accounts (none a precompile) with a spread of amounts, in base units."""
    return [(f"0x{0x10_0000 + i:040x}", 10**6 + (i * 7_919) % 10**9) for i in range(count)]


def build_script(demo: Any, count: int) -> tuple[RehearsalScript, dict[str, int]]:
    paid = allocations(count)
    batches = plan_batches(
        allocations=paid,
        gas_ceiling=GAS_CEILING,
        gas_base=GAS_BASE,
        gas_per_new_recipient=GAS_PER_NEW_RECIPIENT,
        gas_per_existing_recipient=GAS_PER_EXISTING_RECIPIENT,
    )
    executor = demo.address("recovery_executor")
    tree = build_commitment(batches, domain=CommitmentDomain(demo.chain_id, executor, PLAN_ID))
    token = demo.address("migrated_vault_share")
    content = {
        "parameter_changes": [],
        "plan": {
            "id": PLAN_ID,
            "version": 1,
            "mode": "restore",
            "delivery": "push",
            "claim_deadline": None,
            "incident_key": incident_key(demo.chain_id, PLAN_ID),
            "recovery_executor": executor,
        },
        "assets": [
            {
                "asset": token,
                "onchain_plan_id": str(PLAN_ID),
                "commitment_root": tree.root,
                "allocation_root": "",
                "payout_token": token,
                "recipients": len(paid),
                "batch_count": len(batches),
                "total_allocated": str(sum(amount for _, amount in paid)),
            }
        ],
    }
    expected = {account.lower(): amount for account, amount in paid}
    script = RehearsalScript(
        calls=proposal_calls(content, recovery_executor=demo.address("recovery_executor")),
        governance_executor=demo.address("timelock"),
        recovery_executor=demo.address("recovery_executor"),
        batch_executor=demo.executor,
        batches=[
            BatchToRun(
                asset=token,
                payout_token=token,
                onchain_plan_id=PLAN_ID,
                index=batch.index,
                recipients=batch.recipients,
                amounts=batch.amounts,
                proof=tuple(tree.get_proof(position)),
            )
            for position, batch in enumerate(batches)
        ],
        payouts={token.lower(): expected},
    )
    return script, expected


def run_rehearsal(url: str, script: RehearsalScript) -> dict[str, Any]:
    with RawRpc(url) as node:
        point = fork_point(node, confirmation_depth=0)
    with forked(url, point) as fork:
        report = rehearse_on_fork(fork, script, point=point)
    balances = report["balances"]
    return {"exact": report["passed"] and balances["matched"] == balances["checked"], "report": report}


def run_floor(url: str, script: RehearsalScript) -> dict[str, Any]:
    token, expected = next(iter(script.payouts.items()))
    with RawRpc(url) as rpc:
        snapshot = rpc.call("evm_snapshot", [])
        try:
            gas = hex(int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16))
            before = read_balances(rpc, token, list(expected), int(rpc.call("eth_blockNumber", []), 16))
            sends = [(script.governance_executor, call.target, call.calldata) for call in script.calls]
            sends += [
                (script.batch_executor, script.recovery_executor, execute_batch_calldata(b)) for b in script.batches
            ]
            for sender in {script.governance_executor, script.batch_executor}:
                rpc.call("anvil_impersonateAccount", [sender])
            for sender, to, data in sends:
                tx = {"from": sender, "to": to, "data": data, "gas": gas, "gasPrice": "0x0"}
                wait_for_receipt(rpc, rpc.call("eth_sendTransaction", [tx]))
            after = read_balances(rpc, token, list(expected), int(rpc.call("eth_blockNumber", []), 16))
        finally:
            assert rpc.call("evm_revert", [snapshot]), "evm_revert failed"
    return {"exact": all(after[a] - before[a] == amount for a, amount in expected.items())}


def anvil_pid(node: Anvil) -> int:
    assert node.process is not None
    return node.process.pid


def median_row(path: str, samples: list[Sample]) -> dict[str, Any]:
    return {
        "path": path,
        "label": LABELS[path],
        "wall_seconds": statistics.median(s.wall for s in samples),
        "cpu_seconds": statistics.median(s.cpu for s in samples),
        "parent_anvil_cpu_seconds": statistics.median(s.watched_cpu for s in samples),
        "other_cpu_seconds": statistics.median(s.other_cpu for s in samples),
        "best_wall_seconds": min(s.wall for s in samples),
        "walls": [s.wall for s in samples],
    }


def table(rows: list[dict[str, Any]], floor: dict[str, Any]) -> str:
    lines = [
        "| path | wall s (median) | CPU s this process (+ fork) | CPU s parent anvil | other CPU s "
        "| x floor (wall) | best wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = row["wall_seconds"] / floor["wall_seconds"]
        lines.append(
            f"| {row['label']} | {row['wall_seconds']:.2f} | {row['cpu_seconds']:.2f} | "
            f"{row['parent_anvil_cpu_seconds']:.2f} | {row['other_cpu_seconds']:.2f} | {ratio:.2f}x | "
            f"{row['best_wall_seconds']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts the plan pays (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both paths; medians (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.accounts < 1 or args.rounds < 1:
        parser.error("--accounts and --rounds must be at least 1")
    info = machine()
    deployer = load_account(private_key=devkeys.DEPLOYER_KEY)
    executor = load_account(private_key=devkeys.EXECUTOR_KEY)
    committee = load_account(private_key=devkeys.COMMITTEE_KEY)
    # Zero base fee on the chain too, so both paths send the same zero-priced transactions.
    with Anvil(extra_args=["--base-fee", "0"]) as parent:
        w3 = connect(parent.url)
        demo = deploy_demo_stack(
            w3, rpc_url=parent.url, deployer=deployer, executor=executor.address, committee=committee.address
        )
        script, expected = build_script(demo, args.accounts)
        print(
            f"{args.accounts:,} accounts in {len(script.batches)} batches "
            f"(gas ceiling {GAS_CEILING:,}), {sum(expected.values()):,} base units",
            flush=True,
        )
        paths = {"rehearsal": run_rehearsal, "floor": run_floor}
        samples: dict[str, list[Sample]] = {name: [] for name in paths}
        checks: dict[str, bool] = {}
        gas = None
        for number in range(args.rounds):
            order = list(paths) if number % 2 == 0 else list(reversed(paths))
            for name in order:
                with measured(watch=anvil_pid(parent)) as sample:
                    result = paths[name](parent.url, script)
                samples[name].append(sample)
                checks[f"{name}_round_{number + 1}_exact"] = result["exact"]
                if name == "rehearsal":
                    gas = result["report"]["total_gas"]
                print(
                    f"round {number + 1}/{args.rounds}: {name}: {sample.wall:.2f} s wall, {sample.cpu:.2f} CPU-s, "
                    f"parent anvil {sample.watched_cpu:.2f} CPU-s, every balance exact: {result['exact']}",
                    flush=True,
                )
    rows = [median_row(name, samples[name]) for name in paths]
    floor = rows[1]
    ratios = [r / f for r, f in zip(rows[0]["walls"], floor["walls"], strict=True)]
    print()
    print(table(rows, floor))
    print()
    print(
        f"rehearsal / floor, paired per round: median {statistics.median(ratios):.2f}x; "
        f"{args.accounts:,} accounts, {len(script.batches)} batches, {gas:,} gas in the rehearsal"
    )
    print(describe(info))
    passed = all(checks.values())
    print(f"every balance exact in every run: {'yes' if passed else 'NO'}")
    if args.json:
        figures = {
            "machine": info,
            "accounts": args.accounts,
            "batches": len(script.batches),
            "gas": gas,
            "rounds": args.rounds,
            "rows": rows,
            "paired_ratio_median": statistics.median(ratios),
            "checks": checks,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
