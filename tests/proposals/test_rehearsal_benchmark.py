"""The rehearsal benchmark still runs and both of its paths see every balance exact, at a tiny size
(no timing is asserted: the figures are for benchmarks/RESULTS.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.chain]


def test_the_rehearsal_benchmark_checks_every_balance_on_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "rehearsal.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/rehearsal_bench.py", "--accounts", "40", "--rounds", "1", "--json", str(out)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["checks"] == {"rehearsal_round_1_exact": True, "floor_round_1_exact": True}
    assert figures["accounts"] == 40 and figures["batches"] == 1 and figures["gas"] > 0
    assert {row["path"] for row in figures["rows"]} == {"rehearsal", "floor"}
