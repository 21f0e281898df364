"""Bulk writes of per-account rows: COPY on PostgreSQL, one executemany on SQLite.

On SQLite values go through the model fields' own ``get_db_prep_value``, so the column
encoding (padded text) has one definition, in ``recovery/fields.py``. On PostgreSQL rows are
written as COPY text: amounts as their decimal digits after the fields' own range checks, so
a million rows cost little more than PostgreSQL's own COPY of the same text.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models

from recovery.fields import UINT256_MAX, SignedAmountField, Uint256Field, validate_uint256

_COPY_CHUNK = 1 << 20  # bytes handed to COPY at a time
_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(field: models.Field) -> Callable[[Any], str]:
    """One column's value as COPY text, checked as the field would check it."""
    if isinstance(field, Uint256Field):
        if isinstance(field, SignedAmountField):
            low, high, validate = field.low, field.high, field.validate_amount
        else:
            low, high, validate = 0, UINT256_MAX, validate_uint256

        def amount(value: Any) -> str:
            if type(value) is not int or not low <= value <= high:
                value = validate(value)  # raises with the field's message, or normalises a decimal string
            return str(value)

        return amount
    if isinstance(field, models.ForeignKey):
        return lambda value: str(int(value))
    if isinstance(field, models.CharField):
        limit = field.max_length or 10**9

        def text(value: Any) -> str:
            if type(value) is not str or len(value) > limit:
                value = str(field.get_prep_value(value))
                if len(value) > limit:
                    raise ValueError(f"{field.name}: {value[:60]!r} is longer than {limit} characters")
            return value.translate(_SPECIAL)

        return text

    def other(value: Any) -> str:
        prepared = field.get_db_prep_value(value, connection, False)
        return "\\N" if prepared is None else str(prepared).translate(_SPECIAL)

    return other


def bulk_insert(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (values in ``columns`` order) into ``model``'s table; returns the count.

    The caller owns the transaction. ``columns`` are field names; a foreign key takes the pk value.
    """
    fields = [model._meta.get_field(name) for name in columns]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    if connection.vendor == "postgresql":
        return _copy(table, names, [_copy_text(field) for field in fields], rows)
    prep = [field.get_db_prep_value for field in fields]
    placeholders = ", ".join(["%s"] * len(columns))
    count = 0
    with connection.cursor() as cursor:
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


def _copy(table: str, names: str, texts: list[Callable[[Any], str]], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    width = len(texts)
    lines: list[str] = []
    size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a row has {len(row)} values for {width} columns")
            line = "\t".join([text(value) for text, value in zip(texts, row)])  # noqa: B905 - width checked
            lines.append(line)
            size += len(line)
            count += 1
            if size >= _COPY_CHUNK:
                copy.write("\n".join(lines) + "\n")
                lines, size = [], 0
        if lines:
            copy.write("\n".join(lines) + "\n")
    return count
