"""``Uint256Field``: an exact unsigned 256-bit integer column on PostgreSQL and SQLite.

Django's ``DecimalField`` on SQLite passes through a float with 15 significant digits
(10**18 + 1 reads back as 10**18), so amounts need a field of their own:

- PostgreSQL stores ``NUMERIC(78, 0)``: exact, with numeric ordering and comparisons.
- SQLite stores the decimal digits as TEXT, left-padded with zeros to 78 characters, so text
  comparison is numeric comparison: equality, ranges and ORDER BY are all correct.

Do not ``Sum`` or ``Avg`` this column in SQL (SQLite would convert the text to a float): add
amounts in Python, where ``int`` is exact.
"""

from decimal import Decimal
from typing import Any

from django.core import exceptions
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

UINT256_MAX = 2**256 - 1
_DIGITS = 78  # len(str(2**256 - 1))


def validate_uint256(value: Any) -> int:
    """``value`` as an int in 0..2**256-1, or a ``ValidationError`` saying what is wrong."""
    if isinstance(value, bool | float):
        raise exceptions.ValidationError(
            "%(value)r is not an integer amount: amounts are integers in base units, never floats or booleans",
            code="invalid",
            params={"value": value},
        )
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise exceptions.ValidationError(
                "%(value)s is not a whole number of base units", code="invalid", params={"value": value}
            )
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.isdigit() or not text.isascii():
            raise exceptions.ValidationError(
                "%(value)r is not a non-negative decimal integer (base units, digits only)",
                code="invalid",
                params={"value": value},
            )
        value = int(text)
    elif not isinstance(value, int):
        raise exceptions.ValidationError("%(value)r is not an integer", code="invalid", params={"value": value})
    if value < 0:
        raise exceptions.ValidationError(
            "%(value)s is negative: a uint256 is at least 0", code="min_value", params={"value": value}
        )
    if value > UINT256_MAX:
        raise exceptions.ValidationError(
            "%(value)s overflows uint256 (max 2**256-1)", code="max_value", params={"value": value}
        )
    return value


class Uint256Field(models.Field):
    description = "Unsigned 256-bit integer (exact)"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "“%(value)s” is not a uint256."}

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        if connection.vendor == "postgresql":
            return f"numeric({_DIGITS}, 0)"
        if connection.vendor == "sqlite":
            return "text"
        return f"numeric({_DIGITS}, 0)"

    def get_internal_type(self) -> str:
        return "Uint256Field"

    def to_python(self, value: Any) -> int | None:
        if value is None:
            return None
        return validate_uint256(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> int | None:
        if value is None:
            return None
        return int(value)

    def get_prep_value(self, value: Any) -> int | None:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return validate_uint256(value)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        if connection.vendor == "sqlite":
            return str(value).zfill(_DIGITS)
        return Decimal(value)

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return super().formfield(**{"form_class": forms.CharField, **kwargs})


class SignedAmountField(Uint256Field):
    """An exact signed integer in ``low..high``: NUMERIC(78, 0) on PostgreSQL; on SQLite the
    value plus ``-low``, as 78 zero-padded digits, so text order stays numeric order."""

    low: int
    high: int
    range_message: str

    @classmethod
    def validate_amount(cls, value: Any) -> int:
        """``value`` as an int in ``low..high``, or a ``ValidationError`` saying what is wrong."""
        if isinstance(value, str) and value.strip().startswith("-"):
            value = -validate_uint256(value.strip()[1:])
        elif isinstance(value, Decimal) and value < 0:
            value = -validate_uint256(-value)
        elif not (isinstance(value, int) and not isinstance(value, bool)):
            value = validate_uint256(value)  # refuses floats, booleans and non-numbers with its messages
        if not cls.low <= value <= cls.high:
            raise exceptions.ValidationError(cls.range_message, code="out_of_range", params={"value": value})
        return value

    def to_python(self, value: Any) -> int | None:
        return None if value is None else self.validate_amount(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> int | None:
        if value is None:
            return None
        return int(value) + self.low if connection.vendor == "sqlite" else int(value)

    def get_prep_value(self, value: Any) -> int | None:
        value = models.Field.get_prep_value(self, value)
        return None if value is None else self.validate_amount(value)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        if connection.vendor == "sqlite":
            return str(value - self.low).zfill(_DIGITS)
        return Decimal(value)


INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1


class Int256Field(SignedAmountField):
    """A signed 256-bit integer: -2**255..2**255-1 (stored from 0 to 2**256-1 on SQLite).

    Kept for migration 0001; balance changes use ``Uint256DeltaField``, one bit wider.
    """

    description = "Signed 256-bit integer (exact)"
    low, high = INT256_MIN, INT256_MAX
    range_message = "%(value)s is outside int256"

    def get_internal_type(self) -> str:
        return "Int256Field"


# Every difference of two uint256 values: after - before lies in -(2**256-1)..2**256-1, one
# bit wider than int256 (a holder of 2**256-1 tokens who sends them all has that delta). On
# SQLite the stored numbers run from 0 to 2**257-2, which still has 78 digits; on PostgreSQL
# NUMERIC(78, 0) holds up to 10**78-1 > 2**256-1 in absolute value, signed.
DELTA_MIN = -UINT256_MAX
DELTA_MAX = UINT256_MAX


class Uint256DeltaField(SignedAmountField):
    """A balance change ``after - before`` of two uint256 balances: -(2**256-1)..2**256-1, exact."""

    description = "Difference of two unsigned 256-bit integers (exact)"
    low, high = DELTA_MIN, DELTA_MAX
    range_message = "%(value)s is not a difference of two uint256 values (|delta| <= 2**256-1)"

    def get_internal_type(self) -> str:
        return "Uint256DeltaField"


validate_int256 = Int256Field.validate_amount
validate_uint256_delta = Uint256DeltaField.validate_amount
