"""Bulk writes of per-account rows: COPY on PostgreSQL, one executemany on SQLite.

Values go through the model fields' own ``get_db_prep_value`` so the column encoding
(NUMERIC on PostgreSQL, padded text on SQLite) has one definition, in ``recovery/fields.py``.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models

from recovery.fields import (
    INT256_MAX,
    INT256_MIN,
    UINT256_MAX,
    Int256Field,
    Uint256Field,
    validate_int256,
    validate_uint256,
)


def _copy_prep(field: models.Field) -> Callable[[Any, Any, bool], Any]:
    """For COPY on PostgreSQL: amounts go as Python ints (psycopg writes their digits), after
    the same range check the field applies; other columns as the field prepares them."""
    if isinstance(field, Int256Field):
        return lambda value, _connection, _prepared: _in_range(value, INT256_MIN, INT256_MAX, field.name)
    if isinstance(field, Uint256Field):
        return lambda value, _connection, _prepared: _in_range(value, 0, UINT256_MAX, field.name)
    if isinstance(field, models.ForeignKey):
        return lambda value, _connection, _prepared: int(value)
    if isinstance(field, models.CharField):
        # Django's CharField preparation is str(); a str needs only the length check.
        limit = field.max_length or 10**9
        return lambda value, c, p: (
            value if type(value) is str and len(value) <= limit else field.get_db_prep_value(value, c, p)
        )
    return field.get_db_prep_value


def _in_range(value: Any, low: int, high: int, name: str) -> int:
    if type(value) is not int or not low <= value <= high:
        return validate_int256(value) if low < 0 else validate_uint256(value)  # raises with the field's message
    return value


def bulk_insert(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (values in ``columns`` order) into ``model``'s table; returns the count.

    The caller owns the transaction. ``columns`` are field names; a foreign key takes the pk value.
    """
    fields = [model._meta.get_field(name) for name in columns]
    prep = [_copy_prep(field) if connection.vendor == "postgresql" else field.get_db_prep_value for field in fields]
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
