"""The snapshot benchmark still runs and its self-checks pass, at a tiny size (no timing is asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_snapshot_benchmark_agrees_with_a_full_replay_and_the_chain(tmp_path: Path) -> None:
    out = tmp_path / "snapshot_archive.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/snapshot_archive_bench.py",
            *("--logs", "1500", "--accounts", "300", "--after-logs", "400", "--rounds", "1", "--json", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert all(figures["checks"].values()) and len(figures["checks"]) == 4
    assert figures["logs_after_snapshot"] == 400 and figures["snapshot"]["leaves"] > 300
    assert {row["path"] for row in figures["rows"]} == {"snapshot", "from-snapshot", "full-replay"}
