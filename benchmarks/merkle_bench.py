"""Benchmark recovery.merkle against @openzeppelin/merkle-tree on (address, uint256) leaves.

    python benchmarks/merkle_bench.py [--leaves N] [--js-leaves M] [--rounds K] [--json OUT]

Writes N deterministic values once to a temporary JSON file (amounts as decimal strings, the
form the JS library takes), then builds the tree from that file in a fresh process per run:
Python (recovery.merkle) as it runs by default, which on Linux with two CPUs forks ONE HELPER
PROCESS and so uses two processes; Python forced to one process (``parallel=False``), the
like-for-like comparison with the JS library's one Node process; and Node (the JS library via
benchmarks/js/merkle_oz.mjs). Only the build (``of``) is timed. The runs go in K rounds (default
3), A B C ... in a rotating order, and the table shows medians.

Each row gives wall seconds and CPU-seconds (user + system) of the build: for Python, this
process and its reaped helper (``resource.getrusage`` RUSAGE_SELF + RUSAGE_CHILDREN), for Node
``process.cpuUsage()`` (every thread of the process); the whole process (start-up and loading
included) is measured too, by ``wait4``, with the CPU-seconds the rest of the machine used
meanwhile. Memory is measured from outside while each side runs: the peak, over 0.1 s samples,
of the summed PSS of the process and its children (so pages a forked helper shares with its
parent count once), and, as an upper bound, the peak RSS of the process plus that of its helper.

The project's target: 1,000,000 leaves in <= 5 s and <= 1 GB on a 2-core machine. The JS side
takes minutes at that size; --js-leaves runs it on fewer leaves (Python then also builds that
many, so the roots can still be compared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cputime import describe, machine

ROOT = Path(__file__).resolve().parents[1]
JS_SIDE = ROOT / "benchmarks" / "js" / "merkle_oz.mjs"
ENCODING = ("address", "uint256")
TARGET_SECONDS = 5.0
TARGET_MB = 1024.0
SIDES = {
    "two": "Lifeboat recovery.merkle, default (forks 1 helper from 32,768 leaves)",
    "one": "Lifeboat recovery.merkle, parallel=False (1 process)",
    "js": "@openzeppelin/merkle-tree (Node, 1 process)",
}


@dataclass
class Run:
    side: str
    leaves: int
    seconds: float  # wall time of the build
    cpu_seconds: float  # CPU time of the build, helper included
    processes: int  # processes that did the build
    peak_mb: float  # peak summed PSS of the process tree (sampled)
    peak_rss_sum_mb: float  # peak RSS (VmHWM) of the process + that of its helper: an upper bound
    load_seconds: float
    root: str
    wall_seconds: float  # the whole process: start-up, loading the file, building
    process_cpu_seconds: float  # CPU time of the whole process and its helper
    other_cpu_seconds: float  # CPU time other processes used meanwhile (a busy machine skews figures)
    best_seconds: float = 0.0  # in a row of medians: the fastest round's build


def make_values(count: int) -> list[list[str]]:
    """Deterministic, distinct addresses (an odd multiplier is a bijection mod 2**160) and varied amounts."""
    multiplier = 0x9E3779B97F4A7C15F39CC0605CEDC8341082276B
    return [
        ["0x%040x" % ((i * multiplier + 0x1234) % 2**160), str(((i * 7_919) % 1_000_003 + 1) * 10**15 + i)]
        for i in range(count)
    ]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids.extend(int(kid) for kid in handle.read().split())
    except OSError:
        pass
    return kids


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_pss_kb(pid: int) -> int:
    pids, seen, total = [pid], set(), 0
    while pids:
        current = pids.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _pss_kb(current)
        pids.extend(_children(current))
    return total


def _busy_cpu_seconds() -> float:
    """CPU time all processes have spent so far (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    report: dict
    peak_pss_mb: float
    wall_seconds: float
    cpu_seconds: float
    other_cpu_seconds: float


def measure(command: list[str], side: str) -> Measured:
    """Run one side; sample its memory while it runs and note how busy the rest of the machine was."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy_before, started = _busy_cpu_seconds(), time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
        peak_pss = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_pss = max(peak_pss, _tree_pss_kb(process.pid))
            time.sleep(0.1)
        busy, wall = _busy_cpu_seconds() - busy_before, time.perf_counter() - started
        own = usage.ru_utime + usage.ru_stime  # includes its reaped children (the helper)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 above
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{side} side failed ({process.returncode}):\n{err.read().decode()[-4000:]}")
        report = json.loads(out.read().decode().strip().splitlines()[-1])
    return Measured(report, peak_pss / 1024, wall, own, max(0.0, busy - own))


def run_python(values_file: Path, count: int, *, parallel: bool) -> Run:
    mode = "auto" if parallel else "off"
    command = [sys.executable, str(Path(__file__).resolve()), "--python-side", str(values_file), str(count), mode]
    measured = measure(command, "python")
    report = measured.report
    return Run(
        side=SIDES["two" if parallel else "one"],
        leaves=count,
        seconds=report["seconds"],
        cpu_seconds=report["cpu_seconds"],
        processes=report["processes"],
        peak_mb=measured.peak_pss_mb,
        peak_rss_sum_mb=report["peak_rss_sum_mb"],
        load_seconds=report["load_seconds"],
        root=report["root"],
        wall_seconds=measured.wall_seconds,
        process_cpu_seconds=measured.cpu_seconds,
        other_cpu_seconds=measured.other_cpu_seconds,
    )


def run_js(values_file: Path, count: int) -> Run:
    command = ["node", "--max-old-space-size=4096", str(JS_SIDE), str(values_file), str(count)]
    measured = measure(command, "js")
    report = measured.report
    return Run(
        side=SIDES["js"],
        leaves=count,
        seconds=report["seconds"],
        cpu_seconds=report["cpuSeconds"],
        processes=1,
        peak_mb=measured.peak_pss_mb,
        peak_rss_sum_mb=report["peakRssMb"],
        load_seconds=report["loadSeconds"],
        root=report["root"],
        wall_seconds=measured.wall_seconds,
        process_cpu_seconds=measured.cpu_seconds,
        other_cpu_seconds=measured.other_cpu_seconds,
    )


def python_side(values_file: Path, count: int, mode: str) -> None:
    """Child mode: load, build once, report (the numbers the parent prints)."""
    sys.path.insert(0, str(ROOT))
    from recovery.merkle import StandardMerkleTree, _helper_pays_off

    start = time.perf_counter()
    with open(values_file) as handle:
        values = json.load(handle)[:count]
    load_seconds = time.perf_counter() - start

    parallel = None if mode == "auto" else False
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    tree = StandardMerkleTree.of(values, ENCODING, parallel=parallel)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before, strict=True))

    # VmHWM, not RUSAGE_SELF: on Linux ru_maxrss carries the launching process's peak across exec.
    with open("/proc/self/status") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the forked helper, if any
    report = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "processes": 2 if parallel is None and _helper_pays_off(count) else 1,
        "load_seconds": load_seconds,
        "root": tree.root,
        "peak_rss_sum_mb": (own + helper) / 1024,
    }
    print(json.dumps(report))


def median_run(runs: list[Run]) -> Run:
    """One row of medians over a configuration's rounds (the root is the same in every round)."""
    middle = {
        name: statistics.median(getattr(run, name) for run in runs)
        for name in (
            "seconds",
            "cpu_seconds",
            "peak_mb",
            "peak_rss_sum_mb",
            "load_seconds",
            "wall_seconds",
            "process_cpu_seconds",
            "other_cpu_seconds",
        )
    }
    first = runs[0]
    return Run(
        side=first.side,
        leaves=first.leaves,
        processes=first.processes,
        root=first.root,
        best_seconds=min(run.seconds for run in runs),
        **middle,
    )


def table(rows: list[Run]) -> str:
    lines = [
        "| side | processes | leaves | build wall s | build CPU s | process wall s | process CPU s "
        "| other CPU s | peak MB (PSS) | best build wall s | root |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r.side} | {r.processes} | {r.leaves:,} | {r.seconds:.2f} | {r.cpu_seconds:.2f} | {r.wall_seconds:.2f} "
        f"| {r.process_cpu_seconds:.2f} | {r.other_cpu_seconds:.2f} | {r.peak_mb:.0f} | {r.best_seconds:.2f} "
        f"| `{r.root[:10]}…{r.root[-6:]}` |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="values to build from (default 1,000,000)")
    parser.add_argument("--js-leaves", type=int, help="run the JS side on this many instead (default: --leaves)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every configuration; medians (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--python-side", nargs=3, metavar=("FILE", "COUNT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.python_side:
        python_side(Path(args.python_side[0]), int(args.python_side[1]), args.python_side[2])
        return 0

    if args.leaves < 1 or (args.js_leaves is not None and args.js_leaves < 1) or args.rounds < 1:
        parser.error("--leaves, --js-leaves and --rounds must be at least 1")
    info = machine()
    js_leaves = args.js_leaves or args.leaves
    sizes = sorted({args.leaves, js_leaves}, reverse=True)
    configurations = [(kind, count) for count in sizes for kind in ("two", "one")] + [("js", js_leaves)]
    runs: dict[tuple[str, int], list[Run]] = {configuration: [] for configuration in configurations}
    with tempfile.TemporaryDirectory(prefix="merkle-bench-") as tmp:
        # One file per size, so each side's memory holds just the values it builds from.
        files = {}
        for count in sizes:
            files[count] = Path(tmp) / f"values-{count}.json"
            files[count].write_text(json.dumps(make_values(count)))
        for number in range(args.rounds):
            shift = number % len(configurations)
            for kind, count in configurations[shift:] + configurations[:shift]:
                if kind == "js":
                    run = run_js(files[count], count)
                else:
                    run = run_python(files[count], count, parallel=kind == "two")
                runs[(kind, count)].append(run)
                print(
                    f"round {number + 1}/{args.rounds}: {run.side} at {count:,}: {run.seconds:.2f} s wall, "
                    f"{run.cpu_seconds:.2f} CPU-s",
                    flush=True,
                )

    rows = {configuration: median_run(attempts) for configuration, attempts in runs.items()}
    js = rows[("js", js_leaves)]
    two, one = rows[("two", js_leaves)], rows[("one", js_leaves)]
    roots = {run.root for (kind, count), attempts in runs.items() if count == js_leaves for run in attempts}
    same_root = len(roots) == 1
    print()
    print(table(list(rows.values())))
    print()
    for (kind, count), attempts in runs.items():
        listed = ", ".join(f"{r.seconds:.2f} s ({r.cpu_seconds:.2f} CPU-s)" for r in attempts)
        print(f"{SIDES[kind]} at {count:,} leaves: {listed}")
    print(f"roots identical at {js_leaves:,} leaves (every run, every side): {'yes' if same_root else 'NO'}")
    ratios = {
        "js_over_two_wall": js.seconds / two.seconds,
        "js_over_two_cpu": js.cpu_seconds / two.cpu_seconds,
        "js_over_one_wall": js.seconds / one.seconds,
        "js_over_one_cpu": js.cpu_seconds / one.cpu_seconds,
        "js_over_two_memory": js.peak_mb / two.peak_mb,
        "js_over_one_memory": js.peak_mb / one.peak_mb,
    }
    print(
        f"JS / Lifeboat at {js_leaves:,} leaves, build: {ratios['js_over_two_wall']:.1f}x the wall time and "
        f"{ratios['js_over_two_cpu']:.1f}x the CPU-seconds of the default (2 processes); "
        f"{ratios['js_over_one_wall']:.1f}x the wall time and {ratios['js_over_one_cpu']:.1f}x the CPU-seconds "
        f"of one process; {ratios['js_over_two_memory']:.1f}x / {ratios['js_over_one_memory']:.1f}x the memory (PSS)"
    )
    main_row = rows[("two", args.leaves)]
    print(
        f"target at {args.leaves:,} leaves (<= {TARGET_SECONDS:.0f} s, <= {TARGET_MB:.0f} MB): default "
        f"{main_row.seconds:.2f} s wall / {main_row.cpu_seconds:.2f} CPU-s, {main_row.peak_mb:.0f} MB PSS; "
        f"one process {rows[('one', args.leaves)].seconds:.2f} s"
    )
    print(describe(info))
    if args.json:
        figures = {
            "machine": info,
            "rounds": args.rounds,
            "rows": [asdict(row) for row in rows.values()],
            "runs": {f"{kind}@{count}": [asdict(r) for r in attempts] for (kind, count), attempts in runs.items()},
            "roots_identical": same_root,
            **ratios,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if same_root else 1


if __name__ == "__main__":
    raise SystemExit(main())
