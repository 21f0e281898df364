"""The web-load benchmark's harness at a tiny size, and the PostgreSQL plans of the accounts table's queries.

The benchmark exits non-zero when a page does not list exactly the expected accounts (Lifeboat
or the peer), when the floor's size differs, or when any loaded request failed: a zero exit and
its JSON are the check. No timing is asserted; the figures are for benchmarks/RESULTS.md.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from recovery.impact import analyze_impact_table
from recovery.models import AccountImpact, AnalysisStatus, ImpactAnalysis, ImpactKind
from recovery.storage import bulk_insert
from tests.factories import IncidentFactory
from web import selectors_holders

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]


def _postgres_url() -> str:
    """The benchmark measures PostgreSQL: the suite's server when it is PostgreSQL, else BENCH_DATABASE_URL."""
    if ON_POSTGRES:
        return os.environ["DATABASE_URL"]
    return os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def test_the_web_load_benchmark_serves_every_url_with_the_expected_accounts(tmp_path: Path) -> None:
    assert shutil.which("wrk"), "the load tool is Debian's wrk: apt-get install wrk (make bench installs it)"
    out = tmp_path / "web_load.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/web_load.py",
            *("--accounts", "300", "--clients", "2", "--seconds", "1", "--rounds", "1", "--sql-repeats", "2"),
            *("--database", f"bench_web_smoke_{os.getpid()}", "--rebuild", "--drop", "--json", str(out)),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": _postgres_url()},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())

    assert figures["checks"] and all(figures["checks"].values())
    # Every URL by Lifeboat and the floor, the three table URLs by the peer too; every request answered 2xx.
    paths = {(row["url"], row["path"]) for row in figures["rows"]}
    names = [entry["name"] for entry in figures["urls"]]
    assert len(names) == 5
    assert {(name, "lifeboat") for name in names} | {(name, "floor") for name in names} <= paths
    assert sum(1 for _, kind in paths if kind == "peer") == 3
    assert all(row["requests"] > 0 and row["errors"] == 0 for row in figures["rows"])
    assert figures["errors"] == 0
    assert all(row["generator_cpu"] >= 0 and row["server_cpu"] >= 0 for row in figures["rows"])
    assert set(figures["sql_ms"]) == set(names)
    # The throwaway database is gone, and no server is left running.
    import psycopg

    with psycopg.connect(_postgres_url().rpartition("/")[0] + "/postgres", autocommit=True) as admin:
        assert (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"bench_web_smoke_{os.getpid()}"]).fetchone()
            is None
        )


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker: recovery.impact's VACUUM runs
@pytest.mark.skipif(not ON_POSTGRES, reason="the index and its plans are PostgreSQL's (SQLite serves the case ranges)")
def test_the_accounts_queries_read_their_indexes_on_postgresql_once_the_rows_are_analysed(caplog) -> None:
    """On 100,000 losers, analysed as ``recovery.impact`` does: the search reads index ranges, a deep page an index."""
    analysis = ImpactAnalysis.objects.create(
        incident=IncidentFactory(), rollback_block=1, reference_block=2, status=AnalysisStatus.COMPLETED
    )
    asset = "0x" + "11" * 20
    digits = [hashlib.sha256(str(i).encode()).hexdigest()[:40] for i in range(100_000)]
    accounts = ["0x" + (d[:10].upper() + d[10:] if i % 2 else d) for i, d in enumerate(digits)]  # mixed case
    bulk_insert(
        AccountImpact,
        ["analysis", "account", "asset", "kind", "before", "after", "delta"],
        ((analysis.pk, a, asset, ImpactKind.BALANCE, 10**18, i, i - 10**18) for i, a in enumerate(accounts)),
    )
    analyze_impact_table()  # what recovery.impact does after storing an analysis: VACUUM (ANALYZE)
    assert not [r for r in caplog.records if r.name == "recovery.impact"]  # it ran, it did not fail
    prefix = "abc"  # letters: Lifeboat's query expands their cases into 8 ranges of the unique index
    rows = selectors_holders.list_affected_accounts(analysis_id=analysis.pk, asset=asset, prefix=prefix)
    expected = [a for a in accounts if a[2:].lower().startswith(prefix)]  # largest loss first: smallest i

    assert [row.account for row in rows[:50]] == expected[:50] and len(expected) >= 10
    for query in (rows[:50], rows.order_by().values("pk")):
        plan = _explain(query)
        assert "one_row_per_account_asset" in plan, plan
        assert "Seq Scan" not in plan and "impact_delta" not in plan, plan

    # The deep page selects its 50 ids by an index-only scan of impact_delta_account, skipping 44,950 entries.
    ordered = selectors_holders.list_affected_accounts(analysis_id=analysis.pk, asset=asset)
    page = AccountImpact.objects.filter(pk__in=ordered.values("pk")[44_950:45_000]).order_by("delta", "account")
    plan = _explain(page)
    assert "Index Only Scan using impact_delta_account" in plan and "Seq Scan" not in plan, plan
    assert [row.account for row in page] == accounts[44_950:45_000]

    # The statements the table runs: the search by index ranges; a deep page from its first row
    # (the keyset of a completed analysis) as a range of impact_delta_account, nothing skipped.
    read = {"plan_asset_id": 0, "analysis_id": analysis.pk, "asset": asset}
    plan = _explain_sql(*selectors_holders.accounts_page_sql(**read, prefix=prefix, offset=0))
    assert "one_row_per_account_asset" in plan and "Seq Scan on recovery_accountimpact" not in plan, plan
    key = selectors_holders.analysis_cache_key(analysis)
    starts = selectors_holders._page_starts(key, analysis.pk, asset, selectors_holders.ACCOUNTS_PER_PAGE)
    assert len(starts) == 2_000 and starts[899][1] == accounts[44_950]
    sql, params = selectors_holders.accounts_page_sql(**read, prefix="", offset=0, start=starts[899])
    plan = _explain_sql(sql, params)
    assert "Index Only Scan using impact_delta_account" in plan and "Seq Scan on recovery_accountimpact" not in plan
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert [row[0] for row in cursor.fetchall()] == accounts[44_950:45_000]


def _explain(query) -> str:
    return _explain_sql(*query.query.sql_with_params())


def _explain_sql(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(line for (line,) in cursor.fetchall())
