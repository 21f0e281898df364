"""Capped pro rata with a second class (issue 16, part 4): the first class shares the budget, the
second class only what the first leaves, nobody above the cap. Pure: no database, no chain."""

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from recovery.allocation import AllocationResult, InvalidSecondClass, allocate
from recovery.diff import AccountDelta

ASSET = to_checksum_address("0x" + "5a" * 20)
EULER = (1005, 1000)


def address(n: int) -> str:
    return to_checksum_address(n.to_bytes(20, "big"))


def _allocate(
    claims: list[int],
    budget: int,
    *,
    second: set[int],
    excluded: set[int] = frozenset(),  # type: ignore[assignment]
    cap: tuple[int, int] | None = EULER,
    dust_threshold: int = 0,
) -> AllocationResult:
    return allocate(
        mode="restitute",
        policy="pro_rata",
        deltas=[AccountDelta(address(n + 1), ASSET, claim, 0) for n, claim in enumerate(claims)],
        budget=budget,
        exclusions=[address(n + 1) for n in excluded],
        dust_threshold=dust_threshold,
        cap_numerator=None if cap is None else cap[0],
        cap_denominator=None if cap is None else cap[1],
        second_class=[address(n + 1) for n in second],
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[int], int, set[int], set[int], tuple[int, int], int]:
    claims = draw(st.lists(st.integers(0, 10**30), min_size=0, max_size=25))
    indices = list(range(len(claims)))
    second = set(draw(st.lists(st.sampled_from(indices), unique=True))) if indices else set()
    rest = [i for i in indices if i not in second]
    excluded = set(draw(st.lists(st.sampled_from(rest), unique=True))) if rest else set()
    cap = draw(st.sampled_from([EULER, (1, 1), (3, 2), (999, 1000)]))
    budget = draw(st.integers(0, 2 * 10**31))
    dust = draw(st.sampled_from([0, 0, 1, 10**6, 10**28]))
    return claims, budget, second, excluded, cap, dust


@given(case=cases())
def test_allocations_dust_and_surplus_sum_exactly_to_the_budget(case: tuple) -> None:
    claims, budget, second, excluded, cap, dust = case
    result = _allocate(claims, budget, second=second, excluded=excluded, cap=cap, dust_threshold=dust)

    assert result.total_allocated + result.dust_total + result.surplus == budget
    assert result.total_allocated == sum(a.amount for a in result.allocations)


@given(case=cases())
def test_nobody_is_paid_above_the_cap_times_the_claim(case: tuple) -> None:
    claims, budget, second, excluded, cap, dust = case
    result = _allocate(claims, budget, second=second, excluded=excluded, cap=cap, dust_threshold=dust)

    for allocation in (*result.allocations, *result.dust):
        assert allocation.entitlement == allocation.claim * cap[0] // cap[1]
        assert 0 <= allocation.amount <= allocation.entitlement


@given(case=cases())
def test_the_second_class_gets_only_what_the_first_class_leaves(case: tuple) -> None:
    claims, budget, second, excluded, cap, _ = case
    result = _allocate(claims, budget, second=second, excluded=excluded, cap=cap)
    rows = result.allocations
    first_paid = sum(a.amount for a in rows if not a.second_class)
    first_entitled = sum(a.entitlement for a in rows if not a.second_class)
    second_paid = sum(a.amount for a in rows if a.second_class)
    second_entitled = sum(a.entitlement for a in rows if a.second_class)

    assert first_paid == min(budget, first_entitled)
    assert second_paid == min(budget - first_paid, second_entitled)
    assert result.second_class_allocated == second_paid
    if first_paid < first_entitled:  # the first class is short: nothing reaches the second
        assert second_paid == 0
    assert result.surplus == budget - first_paid - second_paid
    assert {a.account for a in rows if a.second_class} == {address(n + 1) for n in second if claims[n] > 0}


@given(case=cases())
def test_excluded_accounts_are_never_paid(case: tuple) -> None:
    claims, budget, second, excluded, cap, dust = case
    result = _allocate(claims, budget, second=second, excluded=excluded, cap=cap, dust_threshold=dust)
    excluded_accounts = {address(n + 1) for n in excluded}

    assert not excluded_accounts & {a.account for a in (*result.allocations, *result.dust)}
    assert {e.account for e in result.excluded} == excluded_accounts


@given(case=cases())
def test_an_empty_second_class_is_the_plain_capped_pro_rata(case: tuple) -> None:
    claims, budget, _, excluded, cap, dust = case
    with_classes = _allocate(claims, budget, second=set(), excluded=excluded, cap=cap, dust_threshold=dust)
    plain = allocate(
        mode="restitute",
        policy="pro_rata",
        deltas=[AccountDelta(address(n + 1), ASSET, claim, 0) for n, claim in enumerate(claims)],
        budget=budget,
        exclusions=[address(n + 1) for n in excluded],
        dust_threshold=dust,
        cap_numerator=cap[0],
        cap_denominator=cap[1],
    )
    assert with_classes == plain


# --- Euler's 1.005x, by example ---------------------------------------------------------------


def test_eulers_cap_pays_the_first_class_up_to_1_005x_and_the_rest_to_the_second() -> None:
    # Claims 1,000,000 and 3,000,000 (first class) and 2,000,000 (second class); the cap lifts the
    # entitlements to 1,005,000, 3,015,000 and 2,010,000. A budget of 5,000,000 pays the first class
    # its 4,020,000 in full and leaves 980,000 to the second class; nothing is surplus.
    result = _allocate([1_000_000, 3_000_000, 2_000_000], 5_000_000, second={2})
    amounts = {a.account: (a.amount, a.second_class) for a in result.allocations}

    assert amounts == {
        address(1): (1_005_000, False),
        address(2): (3_015_000, False),
        address(3): (980_000, True),
    }
    assert (result.total_allocated, result.surplus, result.second_class_allocated) == (5_000_000, 0, 980_000)
    assert result.as_json()["second_class"] == [address(3)]


def test_a_budget_beyond_every_capped_entitlement_leaves_a_surplus() -> None:
    result = _allocate([1_000_000, 2_000_000], 4_000_000, second={1})

    assert [a.amount for a in result.allocations] == [1_005_000, 2_010_000]
    assert result.surplus == 4_000_000 - 3_015_000


def test_a_first_class_short_of_its_entitlements_leaves_the_second_class_nothing() -> None:
    # 3,000,000 among entitlements of 1,005,000 and 3,015,000: pro rata by largest remainder.
    result = _allocate([1_000_000, 3_000_000, 2_000_000], 3_000_000, second={2})
    amounts = {a.account: a.amount for a in result.allocations}

    assert amounts == {address(1): 750_000, address(2): 2_250_000, address(3): 0}
    assert result.surplus == 0 and result.second_class_allocated == 0


def test_largest_remainder_gives_the_odd_unit_inside_each_class() -> None:
    # Six claims of 1, entitled to 1 * 1005 // 1000 = 1 each. The first class takes 3 of a budget of
    # 5; the second class of three shares the 2 left by largest remainder (equal: by address).
    result = _allocate([1, 1, 1, 1, 1, 1], 5, second={3, 4, 5})
    amounts = [a.amount for a in result.allocations]

    assert amounts == [1, 1, 1, 1, 1, 0]
    assert result.total_allocated == 5 and result.surplus == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "full", "budget": None}, "pro_rata"),
        ({"second_class": "0x" + "11" * 20}, "not one string"),
        ({"second_class": ["0x1234"]}, "not an address"),
        ({"second_class": [address(1)], "exclusions": [address(1)]}, "both excluded and in the second class"),
    ],
)
def test_a_second_class_is_refused_when_it_cannot_apply(kwargs: dict, message: str) -> None:
    arguments = {
        "mode": "restitute",
        "policy": "pro_rata",
        "deltas": [AccountDelta(address(1), ASSET, 10, 0), AccountDelta(address(2), ASSET, 10, 0)],
        "budget": 10,
        "second_class": [address(2)],
    }
    with pytest.raises(InvalidSecondClass, match=message):
        allocate(**{**arguments, **kwargs})
