"""`make bench`: every benchmark at full size, one after another, figures into benchmarks/out/.

Each benchmark runs against the peer a user would otherwise pick, in the same run, and prints a
Markdown table; benchmarks/RESULTS.md records the latest figures and the command for each.
The storing benchmark needs PostgreSQL: it uses DATABASE_URL, or the machine's local server.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"

RUNS = [
    ("reconstruction", ["benchmarks/reconstruction_bench.py", "--json", str(OUT / "reconstruction.json")], {}),
    ("merkle", ["benchmarks/merkle_bench.py", "--json", str(OUT / "merkle.json")], {}),
    (
        "storing",
        ["benchmarks/storing_bench.py", "--json", str(OUT / "storing.json")],
        {"DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")},
    ),
]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    failed = []
    for name, command, env in RUNS:
        if only and name not in only:
            continue
        print(f"\n## {name}: python {' '.join(command)}", flush=True)
        result = subprocess.run([sys.executable, *command], cwd=ROOT, env={**os.environ, **env}, check=False)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
