"""The detection-latency benchmark still runs end to end at a tiny size (no timing is asserted).

A zero exit means every run of every path ended with both targets paused; the figures
themselves are for benchmarks/RESULTS.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_detection_benchmark_pauses_both_targets_on_every_path(tmp_path: Path) -> None:
    out = tmp_path / "detection.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/detection_latency_bench.py",
            "--runs",
            "1",
            "--peer-interval",
            "1",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CHAIN_RPC_URL")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    for scenario in ("drain", "deviation"):
        for path in ("lifeboat", "peer", "floor"):
            (run,) = figures["raw"][scenario][path]
            assert run["paused"] > run["broken"], (scenario, path, run)
            assert figures["scenarios"][scenario][path]["runs"] == 1
