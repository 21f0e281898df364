"""Bulk writes of per-account rows: COPY on PostgreSQL, one executemany on SQLite.

Values go through the model fields' own ``get_db_prep_value`` so the column encoding
(NUMERIC on PostgreSQL, padded text on SQLite) has one definition, in ``recovery/fields.py``.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models


def bulk_insert(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (values in ``columns`` order) into ``model``'s table; returns the count.

    The caller owns the transaction. ``columns`` are field names; a foreign key takes the pk value.
    """
    fields = [model._meta.get_field(name) for name in columns]
    prep = [field.get_db_prep_value for field in fields]
    db_columns = [field.column for field in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in db_columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([p(value, connection, False) for p, value in zip(prep, row, strict=True)])
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(columns))
        batch: list[list[Any]] = []
        for row in rows:
            batch.append([p(value, connection, False) for p, value in zip(prep, row, strict=True)])
            if len(batch) == 10_000:
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", batch)  # noqa: S608
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", batch)  # noqa: S608
            count += len(batch)
    return count
