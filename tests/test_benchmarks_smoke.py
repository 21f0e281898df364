"""The benchmarks still run and their self-checks pass, at a tiny size (no timing is asserted).

Each benchmark exits non-zero when Lifeboat, the floor and the peer disagree (balances, roots,
stored rows), so a zero exit is the check. The figures themselves are for benchmarks/RESULTS.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *arguments: str, tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    out = tmp_path / f"{script}.json"
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *arguments, "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_reconstruction_benchmark_agrees_with_balanceof_the_plain_loop_and_web3(tmp_path: Path) -> None:
    figures = _run(
        "reconstruction_bench.py",
        "--logs",
        "1000",
        "--accounts",
        "200",
        "--rounds",
        "1",
        "--sample",
        "50",
        tmp_path=tmp_path,
    )

    assert all(figures["checks"].values())
    assert {row["path"] for row in figures["rows"]} >= {"anvil", "floor", "plain", "lifeboat", "web3"}
    assert "web3_balances_equal_lifeboat" in figures["checks"]


def test_the_margin_positions_benchmark_rebuilds_every_account_as_account_of_returns_it(tmp_path: Path) -> None:
    figures = _run(
        "margin_positions_bench.py",
        "--accounts",
        "500",
        "--rounds",
        "1",
        "--web3-sample",
        "50",
        "--sample",
        "50",
        tmp_path=tmp_path,
    )

    assert all(figures["checks"].values())
    assert "web3_sample_equals_lifeboat" in figures["checks"]
    assert {row["path"] for row in figures["rows"]} == {"floor", "lifeboat", "eth_call", "web3"}


def test_the_merkle_benchmark_builds_the_same_root_as_the_javascript_library(tmp_path: Path) -> None:
    figures = _run("merkle_bench.py", "--leaves", "300", "--rounds", "1", tmp_path=tmp_path)

    assert figures["roots_identical"]
    assert {row["processes"] for row in figures["rows"]} == {1}  # too few leaves to fork a helper
    assert all(row["cpu_seconds"] >= 0 for row in figures["rows"])


def _postgres_url() -> str:
    """The storing benchmark measures PostgreSQL's COPY, so it runs on PostgreSQL even when the
    suite runs on SQLite: the suite's database when it is PostgreSQL, else BENCH_DATABASE_URL
    (default: the machine's server at 127.0.0.1:5432). It works in a throwaway database of its own."""
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return os.environ["DATABASE_URL"]
    return os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def test_the_storing_benchmark_stores_every_row_on_every_path(tmp_path: Path) -> None:
    url = _postgres_url()
    figures = _run(
        "storing_bench.py",
        "--rows",
        "300",
        "--save-rows",
        "20",
        "--rounds",
        "1",
        "--database",
        f"bench_smoke_{os.getpid()}",
        tmp_path=tmp_path,
        env={"DATABASE_URL": url},
    )

    assert all(figures["checks"].values())
    assert {row["path"]: row["rows"] for row in figures["rows"]} == {
        "floor": 300,
        "lifeboat": 300,
        "bulk_create": 300,
        "save": 20,
    }


def test_the_gas_benchmark_pays_every_account_exactly_on_every_path(tmp_path: Path) -> None:
    figures = _run(
        "gas_bench.py",
        "--accounts",
        "40",
        "--per-tx",
        "20",
        "--leaves",
        "64",
        "--claims",
        "8",
        tmp_path=tmp_path,
    )

    assert all(figures["checks"].values())
    paths = {(row["part"], row["path"], row["holders"]) for row in figures["rows"]}
    for holders in ("fresh", "existing"):
        assert {(part, path, holders) for part, path in PAID_PATHS} <= paths
    # Gas comes from receipts: exact integers, every transaction's 21,000 included.
    assert all(isinstance(row["gas"], int) and row["gas"] >= 21_000 * row["transactions"] for row in figures["rows"])
    assert {"push_over_bare_loop_fresh", "fallback_over_bare_loop_existing", "claim_over_distributor_fresh"} <= set(
        figures["ratios"]
    )


def test_the_execution_benchmark_pays_every_account_exactly_through_a_worker_the_peer_and_the_floor(
    tmp_path: Path,
) -> None:
    # Its worker processes need a broker a server keeps: the suite's own when it is one (`make test`
    # uses Redis), else Redis, which the suite requires anyway (DEVELOPERS.md).
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "amqp://")):
        broker = "redis://127.0.0.1:6379/9"
    figures = _run(
        "execution_bench.py",
        "--quick",
        tmp_path=tmp_path,
        env={"DATABASE_URL": _postgres_url(), "CELERY_BROKER_URL": broker},
    )

    assert figures["all_exact"]
    assert {row["path"] for row in figures["rows"]} == {"lifeboat_1w_1k", "peer_1k", "floor_1k"}
    lifeboat = next(row for row in figures["rows"] if row["path"] == "lifeboat_1w_1k")
    assert lifeboat["extra"]["run_status"] == "completed"
    assert lifeboat["extra"]["batches_confirmed"] == lifeboat["extra"]["batches"] == 4


PAID_PATHS = [
    ("restitute", "plain"),
    ("restitute", "bare_loop"),
    ("restitute", "push"),
    ("restitute", "fallback"),
    ("restore", "bare_mint_loop"),
    ("restore", "restore"),
    ("pull", "distributor"),
    ("pull", "claim"),
]
