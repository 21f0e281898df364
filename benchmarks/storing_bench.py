"""Writing per-account impact rows to PostgreSQL: Lifeboat's COPY path vs the ORM.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python benchmarks/storing_bench.py [--rows 1000000]

Runs in a throwaway test database (created and dropped here). Compares, on the same rows:
PostgreSQL's own COPY of the rows pre-rendered as text (the floor),
``recovery.storage.bulk_insert`` (COPY from Python values, checked), Django's ``bulk_create`` (batches of 5,000: what a
careful user writes), and ``Model.save()`` row by row (what a user writes first; measured
on a sample and reported per row).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

from recovery.models import AccountImpact, ImpactAnalysis, Incident  # noqa: E402
from recovery.storage import bulk_insert  # noqa: E402


def _rows(count: int, analysis_id: int, asset: str):
    for i in range(count):
        before = (i * 7_919 + 10**18) % (10**24)
        after = before - (i % 3) * (before // 3)
        yield (analysis_id, "0x" + f"{i + 1:040x}", asset, "balance", before, after, after - before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--save-sample", type=int, default=5_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database: this benchmark measures PostgreSQL")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    asset = "0x" + "11" * 20
    results = {}
    try:
        incident = Incident.objects.create(title="bench", kind="other", chain_id=1)
        analyses = [
            ImpactAnalysis.objects.create(incident=incident, rollback_block=1, reference_block=2) for _ in range(4)
        ]
        columns = ["analysis", "account", "asset", "kind", "before", "after", "delta"]

        # The floor: PostgreSQL's own COPY of the same rows, rendered as text beforehand.
        text = "".join("\t".join(str(value) for value in row) + "\n" for row in _rows(args.rows, analyses[3].pk, asset))
        table = AccountImpact._meta.db_table
        names = ", ".join(AccountImpact._meta.get_field(c).column for c in columns)
        started = time.perf_counter()
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for offset in range(0, len(text), 1 << 20):
                copy.write(text[offset : offset + (1 << 20)])
        results["floor"] = time.perf_counter() - started
        del text

        started = time.perf_counter()
        with transaction.atomic():
            bulk_insert(AccountImpact, columns, _rows(args.rows, analyses[0].pk, asset))
        results["copy"] = time.perf_counter() - started

        started = time.perf_counter()
        with transaction.atomic():
            AccountImpact.objects.bulk_create(
                (
                    AccountImpact(**dict(zip(columns[1:], row[1:], strict=True)), analysis_id=row[0])
                    for row in _rows(args.rows, analyses[1].pk, asset)
                ),
                batch_size=5_000,
            )
        results["bulk_create"] = time.perf_counter() - started

        started = time.perf_counter()
        for row in _rows(args.save_sample, analyses[2].pk, asset):
            AccountImpact(**dict(zip(columns[1:], row[1:], strict=True)), analysis_id=row[0]).save()
        per_row = (time.perf_counter() - started) / args.save_sample
        results["save_per_row_extrapolated"] = per_row * args.rows

        counts = [AccountImpact.objects.filter(analysis=a).count() for a in analyses[:2]]
        assert counts == [args.rows, args.rows], counts
        sample = AccountImpact.objects.get(analysis=analyses[0], account="0x" + f"{12345 + 1:040x}")
        expected = next(r for i, r in enumerate(_rows(12346, 0, asset)) if i == 12345)
        assert (sample.before, sample.after, sample.delta) == expected[4:], "COPY stored a different value"
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    rows = args.rows
    print("| path | rows | seconds | rows/s | vs COPY |\n|---|---|---|---|---|")
    for name in ("floor", "copy", "bulk_create", "save_per_row_extrapolated"):
        seconds = results[name]
        print(f"| {name} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} | {seconds / results['copy']:.1f}x |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **results}, indent=2))


if __name__ == "__main__":
    main()
