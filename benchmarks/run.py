"""`make bench`: every benchmark, one after another, figures into benchmarks/out/.

    python benchmarks/run.py [--quick] [NAME ...]

Each benchmark runs Lifeboat beside its floor and the peer a user would otherwise pick, in
interleaved rounds on the same data, checks that they agree, and prints a Markdown table with
wall and CPU seconds. benchmarks/RESULTS.md records the figures with the command for each:
the commands below, which this prints as it runs them. ``--quick`` runs each at a small size
(about a minute in all); NAME runs only the benchmarks named. The storing benchmark needs
PostgreSQL: DATABASE_URL, or the machine's local server, and works in a throwaway database
of its own (``bench_`` + the database's name); the web-load benchmark keeps its data in
``bench_web`` (``bench_web_quick`` for ``--quick``) between runs, and drives gunicorn with
Debian's ``wrk``.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lifeboat"

# name: (script, full-size arguments, quick arguments)
RUNS = {
    "reconstruction": (
        "reconstruction_bench.py",
        ["--no-web3", "--rounds", "5"],
        ["--logs", "20000", "--accounts", "4000", "--no-web3"],
    ),
    "reconstruction-web3": (
        "reconstruction_bench.py",
        ["--logs", "200000", "--accounts", "20000", "--rounds", "3"],
        ["--logs", "10000", "--accounts", "2000", "--rounds", "2"],
    ),
    "merkle": (
        "merkle_bench.py",
        ["--leaves", "1000000", "--js-leaves", "100000", "--rounds", "3"],
        ["--leaves", "100000", "--js-leaves", "10000", "--rounds", "2"],
    ),
    "storing": (
        "storing_bench.py",
        ["--rows", "1000000", "--rounds", "3"],
        ["--rows", "20000", "--save-rows", "500", "--rounds", "2"],
    ),
    "indexing": (
        "indexing_bench.py",
        ["--votes", "10000", "--rounds", "5"],
        ["--votes", "2000", "--per-tx", "500", "--rounds", "2"],
    ),
    "rehearsal": (
        "rehearsal_bench.py",
        ["--accounts", "10000", "--rounds", "3"],
        ["--accounts", "1000", "--rounds", "1"],
    ),
    "gas": (
        "gas_bench.py",
        ["--accounts", "10000", "--per-tx", "200", "--leaves", "10000", "--claims", "1000"],
        ["--quick"],
    ),
    "execution": (
        "execution_bench.py",
        ["--accounts", "10000", "--per-batch", "200", "--rounds", "1", "--block-time-rounds", "1"],
        ["--quick"],
    ),
    "snapshot-follow": (
        "snapshot_follow.py",
        ["--votes", "20000", "--rounds", "3"],
        ["--votes", "6500", "--rounds", "1"],
    ),
    "web-load": (
        "web_load.py",
        ["--accounts", "100000", "--clients", "20", "--seconds", "15", "--rounds", "2", "--workers", "2,3,5"],
        ["--accounts", "5000", "--clients", "20", "--seconds", "2", "--rounds", "1", "--database", "bench_web_quick"],
    ),
    "snapshot-archive": (
        "snapshot_archive_bench.py",
        ["--logs", "1000000", "--accounts", "100000", "--after-logs", "20000", "--rounds", "3"],
        ["--logs", "20000", "--accounts", "4000", "--after-logs", "2000", "--rounds", "1"],
    ),
    "detection-latency": (
        "detection_latency_bench.py",
        ["--runs", "10"],
        ["--runs", "1", "--peer-interval", "1"],
    ),
    "margin-positions": (
        "margin_positions_bench.py",
        ["--accounts", "100000", "--rounds", "3"],
        ["--accounts", "2000", "--rounds", "1", "--web3-sample", "200"],
    ),
    "merkle-js-full": ("merkle_bench.py", ["--leaves", "1000000", "--rounds", "1"], None),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a check that everything runs")
    parser.add_argument("names", nargs="*", metavar="NAME", help="any of: " + ", ".join(RUNS))
    args = parser.parse_args()
    unknown = set(args.names) - set(RUNS)
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}; the names are {', '.join(RUNS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    for name, (script, full, quick) in RUNS.items():
        if args.names and name not in args.names:
            continue
        arguments = quick if args.quick else full
        if arguments is None:
            print(f"\n## {name}: no quick size (full size only)", flush=True)
            continue
        suffix = "-quick" if args.quick else ""
        command = [f"benchmarks/{script}", *arguments]
        env = dict(os.environ)
        shown = f"python {' '.join(command)}"
        if name in ("storing", "execution", "web-load"):
            env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
            shown = f"DATABASE_URL={env['DATABASE_URL']} {shown}"
        print(f"\n## {name}: {shown}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, *command, "--json", str(OUT / f"{name}{suffix}.json")], cwd=ROOT, env=env, check=False
        )
        print(f"## {name}: {'ok' if result.returncode == 0 else 'FAILED'} in {time.perf_counter() - started:.0f} s")
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
