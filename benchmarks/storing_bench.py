"""Writing per-account impact rows to PostgreSQL: Lifeboat's COPY path against the ORM and the floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME python benchmarks/storing_bench.py
        [--rows 1000000] [--save-rows 5000] [--rounds 3] [--json OUT]

Runs in a throwaway database of its own, ``bench_NAME`` (created here and dropped at the end;
``--database`` names another), never the database DATABASE_URL names. The same ``--rows`` rows
are written by each path, each run into a FRESH ``recovery_accountimpact`` table (dropped and
created again from the model before every run: the unique constraint and the delta index, empty):

- ``floor``: PostgreSQL's own COPY of the rows, rendered as COPY text beforehand (untimed);
- ``lifeboat``: ``recovery.storage.bulk_insert`` (COPY from Python values, range-checked);
- ``bulk_create``: Django's ``bulk_create`` in batches of 5,000, what a careful user writes;
- ``save``: ``Model.save()`` row by row, what a user writes first, on ``--save-rows`` rows
  (its own row count, printed as such; not extrapolated).

Each path runs once a round, ``--rounds`` rounds in a rotating order, and the table shows
medians: wall seconds, this process's CPU-seconds, the CPU-seconds of the PostgreSQL backend
serving the connection (read from ``/proc``: the server must run on this machine), and the
CPU-seconds the rest of the machine used meanwhile. After every run the table is checked: the
row count, and the sums of ``before``, ``after`` and ``delta`` equal those of the rows sent.
"""

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from cputime import Sample, describe, machine, measured  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from recovery.models import AccountImpact, ImpactAnalysis, Incident  # noqa: E402
from recovery.storage import bulk_insert  # noqa: E402

COLUMNS = ["analysis", "account", "asset", "kind", "before", "after", "delta"]
ASSET = "0x" + "11" * 20
LABELS = {
    "floor": "PostgreSQL's own COPY of pre-rendered text (the floor)",
    "lifeboat": "Lifeboat recovery.storage.bulk_insert (COPY from Python values, checked)",
    "bulk_create": "Django bulk_create (batches of 5,000)",
    "save": "Model.save() per row",
}


def rows(count: int, analysis_id: int) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        before = (i * 7_919 + 10**18) % (10**24)
        after = before - (i % 3) * (before // 3)
        yield (analysis_id, "0x" + f"{i + 1:040x}", ASSET, "balance", before, after, after - before)


def expected_sums(count: int) -> tuple[int, int, int, int]:
    total_before = total_after = total_delta = 0
    for row in rows(count, 0):
        total_before += row[4]
        total_after += row[5]
        total_delta += row[6]
    return count, total_before, total_after, total_delta


def fresh_table() -> None:
    """Drop ``AccountImpact``'s table and create it again from the model: empty, with its indexes."""
    with connection.schema_editor() as editor:
        editor.delete_model(AccountImpact)
        editor.create_model(AccountImpact)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")  # the previous run's dirty pages are not this run's to write


def stored_sums(analysis_id: int) -> tuple[int, int, int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), sum(before), sum(after), sum(delta) FROM {AccountImpact._meta.db_table} "  # noqa: S608
            "WHERE analysis_id = %s",
            [analysis_id],
        )
        count, before, after, delta = cursor.fetchone()
    return int(count), int(before), int(after), int(delta)


def copy_text(count: int, analysis_id: int) -> str:
    return "".join("\t".join(str(value) for value in row) + "\n" for row in rows(count, analysis_id))


def floor(text: str) -> None:
    table = AccountImpact._meta.db_table
    names = ", ".join(AccountImpact._meta.get_field(c).column for c in COLUMNS)
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for offset in range(0, len(text), 1 << 20):
            copy.write(text[offset : offset + (1 << 20)])


def lifeboat(count: int, analysis_id: int) -> None:
    with transaction.atomic():
        bulk_insert(AccountImpact, COLUMNS, rows(count, analysis_id))


def bulk_create(count: int, analysis_id: int) -> None:
    with transaction.atomic():
        AccountImpact.objects.bulk_create(
            (
                AccountImpact(**dict(zip(COLUMNS[1:], row[1:], strict=True)), analysis_id=row[0])
                for row in rows(count, analysis_id)
            ),
            batch_size=5_000,
        )


def save(count: int, analysis_id: int) -> None:
    for row in rows(count, analysis_id):
        AccountImpact(**dict(zip(COLUMNS[1:], row[1:], strict=True)), analysis_id=row[0]).save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per COPY/bulk run (default 1,000,000)")
    parser.add_argument("--save-rows", type=int, default=5_000, help="rows for the save() path (default 5,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path; medians (default 3)")
    parser.add_argument("--database", help="the throwaway database (default: bench_ + DATABASE_URL's name)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database: this benchmark measures PostgreSQL")
    if min(args.rows, args.save_rows, args.rounds) < 1:
        parser.error("--rows, --save-rows and --rounds must be at least 1")
    info = machine()
    old_name = connection.settings_dict["NAME"]
    database = args.database or f"bench_{old_name}"
    if database in (old_name, "postgres", "template0", "template1"):
        parser.error(f"--database {database}: the benchmark drops it at the end; name a throwaway one")
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": database}
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    samples: dict[str, list[Sample]] = {name: [] for name in LABELS}
    counts = {"floor": args.rows, "lifeboat": args.rows, "bulk_create": args.rows, "save": args.save_rows}
    checks: dict[str, bool] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        if not os.path.exists(f"/proc/{backend}/stat"):
            sys.exit("the PostgreSQL server is not on this machine: its CPU-seconds cannot be read")
        incident = Incident.objects.create(title="bench", kind="other", chain_id=1)
        analysis = ImpactAnalysis.objects.create(incident=incident, rollback_block=1, reference_block=2).pk
        expected = {args.rows: expected_sums(args.rows), args.save_rows: expected_sums(args.save_rows)}
        paths: dict[str, Callable[[], None]] = {
            "floor": lambda: None,  # replaced each round by a COPY of text rendered beforehand
            "lifeboat": lambda: lifeboat(args.rows, analysis),
            "bulk_create": lambda: bulk_create(args.rows, analysis),
            "save": lambda: save(args.save_rows, analysis),
        }
        order = list(paths)
        for number in range(args.rounds):
            for name in order[number % len(order) :] + order[: number % len(order)]:
                text = copy_text(args.rows, analysis) if name == "floor" else ""
                fresh_table()
                with measured(watch=backend) as sample:
                    if name == "floor":
                        floor(text)
                    else:
                        paths[name]()
                samples[name].append(sample)
                del text
                ok = stored_sums(analysis) == expected[counts[name]]
                checks[f"{name}_round_{number + 1}_stored_every_row_and_value"] = ok
                print(
                    f"round {number + 1}/{args.rounds}: {name} {counts[name]:,} rows in {sample.wall:.2f} s, "
                    f"{sample.cpu:.2f} CPU-s here + {sample.watched_cpu:.2f} in PostgreSQL; "
                    f"check {'ok' if ok else 'FAILED'}",
                    flush=True,
                )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(sample, field) for sample in samples[name])

    lifeboat_wall = median("lifeboat", "wall")
    print()
    print(
        "| path | rows | wall s | rows/s | CPU s (Python) | CPU s (PostgreSQL backend) | other CPU s | "
        "wall per row vs Lifeboat | best wall s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    figures = []
    for name, label in LABELS.items():
        wall = median(name, "wall")
        per_row_ratio = (wall / counts[name]) / (lifeboat_wall / args.rows)
        figures.append(
            {
                "path": name,
                "rows": counts[name],
                "wall": wall,
                "cpu": median(name, "cpu"),
                "postgres_cpu": median(name, "watched_cpu"),
                "other_cpu": median(name, "other_cpu"),
                "per_row_vs_lifeboat": per_row_ratio,
                "walls": [s.wall for s in samples[name]],
            }
        )
        print(
            f"| {label} | {counts[name]:,} | {wall:.2f} | {counts[name] / wall:,.0f} | {median(name, 'cpu'):.2f} | "
            f"{median(name, 'watched_cpu'):.2f} | {median(name, 'other_cpu'):.2f} | {per_row_ratio:.2f}x | "
            f"{min(s.wall for s in samples[name]):.2f} |"
        )
    print()
    print(describe(info))
    print(f"{args.rounds} rounds, medians; every run into a fresh table in the throwaway database {database}")
    print(f"checks: {sum(checks.values())}/{len(checks)} ok")
    for name, ok in checks.items():
        if not ok:
            print(f"check {name}: FAILED")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"machine": info, "rounds": args.rounds, "rows": figures, "checks": checks}, indent=2) + "\n"
        )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
