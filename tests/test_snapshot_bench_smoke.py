"""The Snapshot following benchmark still runs and its self-checks pass, at a small size (no timing is asserted).

Enough votes that the naive skip loop meets the hub's skip limit (5,000) and stops short at 6,000,
while Lifeboat's cursor reaches and stores every vote.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOTES = 6_500


def test_the_snapshot_follow_benchmark_stores_every_vote_by_cursor_while_skip_stops_at_the_limit(
    tmp_path: Path,
) -> None:
    out = tmp_path / "snapshot_follow.json"
    # Its own database, var folder and anvil: nothing of the suite's settings is passed on.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LIFEBOAT_VAR_DIR", "CHAIN_RPC_URL")}
    result = subprocess.run(
        [sys.executable, "benchmarks/snapshot_follow.py", "--votes", str(VOTES), "--rounds", "1", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())

    assert all(figures["checks"].values()), figures["checks"]
    rows = {row["path"]: row for row in figures["rows"]}
    assert set(rows) == {"floor", "lifeboat", "skip"}
    assert rows["floor"]["votes"] == rows["lifeboat"]["votes"] == VOTES
    assert rows["skip"]["votes"] == 6_000
    assert "skip" in figures["skip_refusal"].lower()
    # A page a query by cursor (plus the last, short one); the skip loop's six pages and its refused seventh.
    assert rows["floor"]["queries"] == VOTES // 1000 + 1
    assert rows["skip"]["queries"] == 7
    assert rows["lifeboat"]["queries"] >= VOTES // 1000 + 1
