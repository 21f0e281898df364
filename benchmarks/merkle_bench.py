"""Benchmark recovery.merkle against @openzeppelin/merkle-tree on (address, uint256) leaves.

    python benchmarks/merkle_bench.py [--leaves N] [--js-leaves M] [--repeat K] [--json OUT]

Writes N deterministic values once to a temporary JSON file (amounts as decimal strings, the
form the JS library takes), then builds the tree from that file in a fresh process per side:
Python (recovery.merkle) and Node (the JS library via benchmarks/js/merkle_oz.mjs). Both get
the same values as loaded from the file; only the build (``of``) is timed. The Python side
runs K times (default 3) and the table shows its fastest run; every run is printed.

Memory is measured from outside while each side runs: the peak, over 0.1 s samples, of the
summed PSS of the process and its children (so pages a forked helper shares with its parent
count once), and, as an upper bound, the peak RSS of the process plus that of its helper.
Both include the loaded input values.

The project's target: 1,000,000 leaves in <= 5 s and <= 1 GB on a 2-core machine. The JS side
takes minutes at that size; --js-leaves runs it on fewer leaves (Python then also builds
that many, so the roots can still be compared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JS_SIDE = ROOT / "benchmarks" / "js" / "merkle_oz.mjs"
ENCODING = ("address", "uint256")
TARGET_SECONDS = 5.0
TARGET_MB = 1024.0


@dataclass
class Run:
    side: str
    leaves: int
    seconds: float
    cpu_seconds: float  # CPU time of the build, helper included: what a busy machine cannot inflate much
    peak_mb: float  # peak summed PSS of the process tree (sampled)
    peak_rss_sum_mb: float  # peak RSS (VmHWM) of the process + that of its helper: an upper bound
    load_seconds: float
    root: str
    wall_seconds: float  # the whole process: start-up, loading the file, building
    other_cpu_seconds: float  # CPU time other processes used meanwhile (a busy machine skews figures)


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
    return Measured(report, peak_pss / 1024, wall, max(0.0, busy - own))


def run_python(values_file: Path, count: int) -> Run:
    command = [sys.executable, str(Path(__file__).resolve()), "--python-side", str(values_file), str(count)]
    measured = measure(command, "python")
    report = measured.report
    return Run(
        side="python (recovery.merkle)",
        leaves=count,
        seconds=report["seconds"],
        cpu_seconds=report["cpu_seconds"],
        peak_mb=measured.peak_pss_mb,
        peak_rss_sum_mb=report["peak_rss_sum_mb"],
        load_seconds=report["load_seconds"],
        root=report["root"],
        wall_seconds=measured.wall_seconds,
        other_cpu_seconds=measured.other_cpu_seconds,
    )


def run_js(values_file: Path, count: int) -> Run:
    command = ["node", "--max-old-space-size=4096", str(JS_SIDE), str(values_file), str(count)]
    measured = measure(command, "js")
    report = measured.report
    return Run(
        side="js (@openzeppelin/merkle-tree)",
        leaves=count,
        seconds=report["seconds"],
        cpu_seconds=report["cpuSeconds"],
        peak_mb=measured.peak_pss_mb,
        peak_rss_sum_mb=report["peakRssMb"],
        load_seconds=report["loadSeconds"],
        root=report["root"],
        wall_seconds=measured.wall_seconds,
        other_cpu_seconds=measured.other_cpu_seconds,
    )


def python_side(values_file: Path, count: int) -> None:
    """Child mode: load, build once, report (the numbers the parent prints)."""
    sys.path.insert(0, str(ROOT))
    from recovery.merkle import StandardMerkleTree

    start = time.perf_counter()
    with open(values_file) as handle:
        values = json.load(handle)[:count]
    load_seconds = time.perf_counter() - start

    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    tree = StandardMerkleTree.of(values, ENCODING)
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
        "load_seconds": load_seconds,
        "root": tree.root,
        "peak_rss_sum_mb": (own + helper) / 1024,
    }
    print(json.dumps(report))


def table(runs: list[Run]) -> str:
    lines = [
        "| side | leaves | seconds | CPU seconds | peak MB (PSS) | peak MB (RSS sum) | root |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r.side} | {r.leaves:,} | {r.seconds:.2f} | {r.cpu_seconds:.2f} | {r.peak_mb:.0f} "
        f"| {r.peak_rss_sum_mb:.0f} | `{r.root}` |"
        for r in runs
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="values to build from (default 1,000,000)")
    parser.add_argument("--js-leaves", type=int, help="run the JS side on this many instead (default: --leaves)")
    parser.add_argument("--repeat", type=int, default=3, help="Python runs per size; the fastest is shown (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--python-side", nargs=2, metavar=("FILE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.python_side:
        python_side(Path(args.python_side[0]), int(args.python_side[1]))
        return 0

    if args.leaves < 1 or (args.js_leaves is not None and args.js_leaves < 1) or args.repeat < 1:
        parser.error("--leaves, --js-leaves and --repeat must be at least 1")
    js_leaves = args.js_leaves or args.leaves
    with tempfile.TemporaryDirectory(prefix="merkle-bench-") as tmp:
        # One file per size, so each side's memory holds just the values it builds from.
        files = {}
        for count in {args.leaves, js_leaves}:
            files[count] = Path(tmp) / f"values-{count}.json"
            files[count].write_text(json.dumps(make_values(count)))

        python_runs = {count: [run_python(files[count], count) for _ in range(args.repeat)] for count in files}
        runs = [min(python_runs[args.leaves], key=lambda r: r.seconds)]
        if js_leaves != args.leaves:
            runs.append(min(python_runs[js_leaves], key=lambda r: r.seconds))
        runs.append(run_js(files[js_leaves], js_leaves))

    python_main, python_same, js = runs[0], runs[-2], runs[-1]
    same_root = python_same.root == js.root
    print(table(runs))
    print()
    for count, attempts in python_runs.items():
        listed = ", ".join(f"{r.seconds:.2f} s ({r.cpu_seconds:.2f} CPU-s)" for r in attempts)
        print(f"python runs at {count:,} leaves: {listed}")
    print(f"roots identical at {js_leaves:,} leaves: {'yes' if same_root else 'NO'}")
    print(
        f"JS / Python at {js_leaves:,} leaves: {js.seconds / python_same.seconds:.1f}x the time, "
        f"{js.peak_mb / python_same.peak_mb:.1f}x the memory (PSS)"
    )
    for run in runs:
        if run.other_cpu_seconds > 0.1 * run.wall_seconds:
            print(
                f"warning: other processes used {run.other_cpu_seconds:.1f} CPU-seconds during the "
                f"{run.wall_seconds:.1f} s the {run.side} side ran: a busy machine skews its figures"
            )
    print(
        f"target for Python at {python_main.leaves:,} leaves (<= {TARGET_SECONDS:.0f} s, <= {TARGET_MB:.0f} MB): "
        f"{python_main.seconds:.2f} s, {python_main.peak_mb:.0f} MB PSS / {python_main.peak_rss_sum_mb:.0f} MB RSS sum"
    )

    if args.json:
        figures = {
            "runs": [asdict(r) for r in runs],
            "python_runs": {str(count): [asdict(r) for r in attempts] for count, attempts in python_runs.items()},
            "roots_identical": same_root,
            "time_ratio_js_over_python": js.seconds / python_same.seconds,
            "memory_ratio_js_over_python": js.peak_mb / python_same.peak_mb,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if same_root else 1


if __name__ == "__main__":
    raise SystemExit(main())
