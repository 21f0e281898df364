"""The indexing benchmark still runs and its checks pass (web3.py's decoded votes equal the
indexer's), at a tiny size; no timing is asserted."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_indexing_benchmark_agrees_with_web3(tmp_path: Path) -> None:
    out = tmp_path / "indexing.json"
    command = ["benchmarks/indexing_bench.py", "--votes", "600", "--per-tx", "200", "--rounds", "1", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["checks"] == {
        "floor_saw_every_vote": True,
        "lifeboat_saw_every_vote": True,
        "web3_votes_equal_lifeboat": True,
    }
    assert {row["path"] for row in figures["rows"]} == {"anvil", "floor", "lifeboat", "web3"}
