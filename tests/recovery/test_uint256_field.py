"""Uint256Field keeps all 78 digits and sorts numerically, on SQLite and PostgreSQL alike."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.test.utils import isolate_apps

from recovery.fields import INT256_MAX, INT256_MIN, UINT256_MAX, Int256Field, Uint256DeltaField, Uint256Field

AMOUNTS = [0, 1, 9, 10, 10**18, 10**18 + 1, 2**128, 2**255, UINT256_MAX - 1, UINT256_MAX]


@contextmanager
def _table(name: str, field: models.Field) -> Iterator[type[models.Model]]:
    """A throwaway model with one ``value`` column of ``field``, its table created for the test."""
    with isolate_apps("recovery"):
        model = type(
            name,
            (models.Model,),
            {"value": field, "__module__": __name__, "Meta": type("Meta", (), {"app_label": "recovery"})},
        )
        with connection.schema_editor() as editor:
            editor.create_model(model)
        try:
            yield model
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(model)


@pytest.fixture
def amount_model(transactional_db: None) -> Iterator[type[models.Model]]:
    with _table("Holding", Uint256Field()) as model:
        yield model


def test_the_largest_uint256_round_trips_exactly(amount_model):
    row = amount_model.objects.create(value=UINT256_MAX)
    assert amount_model.objects.get(pk=row.pk).value == 2**256 - 1
    assert len(str(amount_model.objects.get(pk=row.pk).value)) == 78


def test_amounts_past_float_precision_stay_exact(amount_model):
    amount_model.objects.create(value=10**18 + 1)
    assert amount_model.objects.get().value == 10**18 + 1
    assert amount_model.objects.filter(value=10**18).count() == 0
    assert amount_model.objects.filter(value=10**18 + 1).count() == 1


def test_ordering_and_range_filters_are_numeric(amount_model):
    for amount in reversed(AMOUNTS):
        amount_model.objects.create(value=amount)
    assert list(amount_model.objects.order_by("value").values_list("value", flat=True)) == AMOUNTS
    assert list(amount_model.objects.order_by("-value").values_list("value", flat=True)) == AMOUNTS[::-1]
    assert (
        list(amount_model.objects.filter(value__gt=10**18).order_by("value").values_list("value", flat=True))
        == AMOUNTS[5:]
    )
    assert amount_model.objects.filter(value__lte=9).count() == 3
    assert amount_model.objects.filter(value__in=[UINT256_MAX, 10]).count() == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "negative"),
        (2**256, "overflows uint256"),
        (1.5, "never floats"),
        (True, "never floats or booleans"),
        ("12abc", "digits only"),
        ("", "digits only"),
    ],
)
def test_values_outside_uint256_are_refused_with_a_clear_message(value, message):
    with pytest.raises(ValidationError) as refused:
        Uint256Field().clean(value, None)
    assert message in " ".join(refused.value.messages)


def test_an_out_of_range_amount_never_reaches_the_database(amount_model):
    with pytest.raises(ValidationError):
        amount_model.objects.create(value=2**256)
    assert amount_model.objects.count() == 0


def test_decimal_strings_are_accepted_as_base_units():
    assert Uint256Field().clean(str(UINT256_MAX), None) == UINT256_MAX


@pytest.fixture
def delta_model(transactional_db: None) -> Iterator[type[models.Model]]:
    with _table("Change", Int256Field()) as model:
        yield model


DELTAS = [INT256_MIN, -(10**18) - 1, -(10**18), -1, 0, 1, 10**18 + 1, INT256_MAX]


def test_signed_deltas_round_trip_and_sort_numerically(delta_model):
    for delta in reversed(DELTAS):
        delta_model.objects.create(value=delta)
    assert list(delta_model.objects.order_by("value").values_list("value", flat=True)) == DELTAS
    assert delta_model.objects.filter(value__lt=0).count() == 4
    assert delta_model.objects.get(value=-(10**18) - 1).value == -(10**18) - 1


def test_deltas_outside_int256_are_refused():
    with pytest.raises(ValidationError):
        Int256Field().clean(INT256_MAX + 1, None)
    with pytest.raises(ValidationError):
        Int256Field().clean(INT256_MIN - 1, None)
    assert Int256Field().clean("-42", None) == -42


@pytest.fixture
def balance_change_model(transactional_db: None) -> Iterator[type[models.Model]]:
    with _table("BalanceChange", Uint256DeltaField()) as model:
        yield model


# Every difference of two uint256 values, extremes included (one bit wider than int256).
BALANCE_CHANGES = [
    -UINT256_MAX,
    -UINT256_MAX + 1,
    INT256_MIN - 1,
    INT256_MIN,
    -(10**18) - 1,
    -1,
    0,
    1,
    10**18 + 1,
    INT256_MAX,
    INT256_MAX + 1,
    UINT256_MAX - 1,
    UINT256_MAX,
]


def test_every_difference_of_two_uint256_round_trips_exactly(balance_change_model):
    for change in BALANCE_CHANGES:
        row = balance_change_model.objects.create(value=change)
        assert balance_change_model.objects.get(pk=row.pk).value == change


def test_balance_changes_filter_and_sort_numerically_across_both_extremes(balance_change_model):
    for change in reversed(BALANCE_CHANGES):
        balance_change_model.objects.create(value=change)
    ordered = balance_change_model.objects.order_by("value").values_list("value", flat=True)
    assert list(ordered) == BALANCE_CHANGES
    assert (
        list(balance_change_model.objects.order_by("-value").values_list("value", flat=True)) == BALANCE_CHANGES[::-1]
    )
    assert balance_change_model.objects.filter(value__lt=0).count() == 6
    assert balance_change_model.objects.filter(value__gt=INT256_MAX).count() == 3
    assert balance_change_model.objects.get(value=-UINT256_MAX).value == -UINT256_MAX
    assert balance_change_model.objects.filter(value__in=[UINT256_MAX, -UINT256_MAX]).count() == 2
    assert balance_change_model.objects.filter(value__gte=-1, value__lte=1).count() == 3


def test_a_change_beyond_two_uint256_values_is_refused(balance_change_model):
    for value, message in (
        (UINT256_MAX + 1, "not a difference"),
        (-UINT256_MAX - 1, "not a difference"),
        ("-" + str(2**256), "overflows uint256"),
    ):
        with pytest.raises(ValidationError) as refused:
            Uint256DeltaField().clean(value, None)
        assert message in " ".join(refused.value.messages)
    with pytest.raises(ValidationError):
        balance_change_model.objects.create(value=UINT256_MAX + 1)
    assert balance_change_model.objects.count() == 0
    assert Uint256DeltaField().clean(str(-UINT256_MAX), None) == -UINT256_MAX
