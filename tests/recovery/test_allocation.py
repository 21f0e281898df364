"""Allocation: exact integer shares, largest remainder, exclusions, dust. Pure: no database, no chain."""

import json
from fractions import Fraction

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from recovery.allocation import (
    AllocationError,
    AllocationResult,
    BudgetMissing,
    BudgetOverflow,
    BudgetTooSmall,
    DuplicateAccount,
    InvalidAccount,
    InvalidBudget,
    InvalidCap,
    InvalidDelta,
    InvalidDustThreshold,
    MixedAssets,
    NegativeBudget,
    UnknownMode,
    UnknownPolicy,
    allocate,
    allocate_pro_rata,
)
from recovery.diff import UINT256_MAX, AccountDelta

ASSET = to_checksum_address("0x" + "5a" * 20)
# Checksummed, the first sorts after the second ("0xa2" > "0xA5" as str); by lowercase it sorts before.
LOWER_FIRST = "0xa2A2a2A2A2A2A2a2a2a2a2A2A2A2A2a2A2A2a2a2"
UPPER_SECOND = "0xA5A5A5A5A5A5A5A5A5A5a5a5a5a5a5a5A5a5a5a5"


def address(n: int) -> str:
    return to_checksum_address(n.to_bytes(20, "big"))


def loss(account: str | int, amount: int, *, before: int | None = None) -> AccountDelta:
    """A delta in which ``account`` lost ``amount`` (and held ``before``, default ``amount``)."""
    held = amount if before is None else before
    return AccountDelta(address(account) if isinstance(account, int) else account, ASSET, held, held - amount)


def amounts(result: AllocationResult) -> dict[str, int]:
    return {allocation.account: allocation.amount for allocation in result.allocations}


losses = st.lists(st.integers(0, 10**30), min_size=0, max_size=30)
budgets = st.integers(0, 10**31)


def _pro_rata(claims: list[int], budget: int, dust_threshold: int = 0) -> AllocationResult:
    return allocate(
        mode="restitute",
        policy="pro_rata",
        deltas=[loss(n + 1, claim) for n, claim in enumerate(claims)],
        budget=budget,
        dust_threshold=dust_threshold,
    )


# --- pro rata ------------------------------------------------------------------------------


@given(claims=losses, budget=budgets)
def test_pro_rata_shares_sum_exactly_to_the_budget(claims: list[int], budget: int) -> None:
    result = _pro_rata(claims, budget)

    assert result.total_allocated + result.surplus == budget
    if budget <= sum(claims):
        assert result.total_allocated == budget and result.surplus == 0


@given(claims=losses, budget=budgets)
def test_no_account_gets_more_than_its_claim(claims: list[int], budget: int) -> None:
    result = _pro_rata(claims, budget)

    assert all(0 <= allocation.amount <= allocation.claim for allocation in result.allocations)


@given(claims=losses, budget=budgets)
def test_each_share_is_its_exact_pro_rata_share_rounded_down_or_up(claims: list[int], budget: int) -> None:
    total = sum(claims)
    result = _pro_rata(claims, budget)

    for allocation in result.allocations:
        exact = Fraction(budget * allocation.claim, total) if budget < total else Fraction(allocation.claim)
        assert exact - 1 < allocation.amount < exact + 1


@given(
    claims=st.dictionaries(st.integers(1, 2**160 - 1).map(address), st.integers(0, 10**6), max_size=20), data=st.data()
)
def test_largest_remainder_matches_an_exact_rational_reference(claims: dict[str, int], data: st.DataObject) -> None:
    total = sum(claims.values())
    budget = data.draw(st.integers(0, max(total - 1, 0)))

    shares = allocate_pro_rata(claims, budget)

    # Reference: exact quotas as fractions, floors, then one unit each to the largest fractional
    # parts, ties by lowercase address. Written independently of the divmod in the module.
    if total == 0:
        assert shares == claims  # nothing to share: every (zero) claim is paid as it is
        return
    quotas = {account: Fraction(budget * claim, total) for account, claim in claims.items()}
    expected = {account: quota.numerator // quota.denominator for account, quota in quotas.items()}
    order = sorted(quotas, key=lambda account: (-(quotas[account] - expected[account]), account.lower()))
    for account in order[: budget - sum(expected.values())]:
        expected[account] += 1
    assert shares == expected


def test_ties_in_remainders_are_broken_by_address() -> None:
    # Three equal claims share 2 units: every remainder is equal, so lowercase address decides.
    deltas = [loss(UPPER_SECOND, 10), loss(LOWER_FIRST, 10), loss(address(0xFF << 152), 10)]

    result = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=2)

    assert amounts(result) == {LOWER_FIRST: 1, UPPER_SECOND: 1, address(0xFF << 152): 0}


def test_the_largest_remainder_gets_the_leftover_unit() -> None:
    # 10 shared 1:2 -> 3.33 and 6.67: floors 3 and 6, the unit goes to the 0.67.
    result = allocate(mode="restitute", policy="pro_rata", deltas=[loss(1, 100), loss(2, 200)], budget=10)

    assert amounts(result) == {address(1): 3, address(2): 7}


def test_a_budget_above_the_claims_pays_them_in_full_and_reports_the_surplus() -> None:
    result = allocate(mode="restitute", policy="pro_rata", deltas=[loss(1, 100), loss(2, 200)], budget=1_000)

    assert amounts(result) == {address(1): 100, address(2): 200}
    assert (result.total_allocated, result.surplus) == (300, 700)


def test_uint256_extremes_are_exact() -> None:
    deltas = [loss(1, UINT256_MAX), loss(2, UINT256_MAX), loss(3, 1)]

    result = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=UINT256_MAX)

    assert result.total_allocated == UINT256_MAX
    assert amounts(result)[address(1)] + amounts(result)[address(2)] + amounts(result)[address(3)] == UINT256_MAX


# --- modes, full policy --------------------------------------------------------------------


def test_restitute_claims_the_loss_and_restore_the_balance_at_the_rollback_block() -> None:
    deltas = [AccountDelta(address(1), ASSET, 100, 30), AccountDelta(address(2), ASSET, 50, 80)]

    restitute = allocate(mode="restitute", policy="full", deltas=deltas, budget=None)
    restore = allocate(mode="restore", policy="full", deltas=deltas, budget=None)

    assert amounts(restitute) == {address(1): 70}
    assert amounts(restore) == {address(1): 100, address(2): 50}
    assert (restore.total_claims, restore.surplus, restore.budget) == (150, 0, None)


def test_full_policy_refuses_a_budget_that_cannot_cover_every_claim() -> None:
    with pytest.raises(BudgetTooSmall, match="40 short") as refused:
        allocate(mode="restitute", policy="full", deltas=[loss(1, 100), loss(2, 200)], budget=260)

    assert refused.value.shortfall == 40


def test_full_policy_with_a_larger_budget_reports_the_surplus() -> None:
    result = allocate(mode="restitute", policy="full", deltas=[loss(1, 100)], budget=150)

    assert (amounts(result), result.surplus) == ({address(1): 100}, 50)


# --- exclusions and dust -------------------------------------------------------------------


def test_the_exploiter_is_excluded_and_reported() -> None:
    exploiter = address(666)
    deltas = [loss(1, 100), loss(2, 300), AccountDelta(exploiter, ASSET, 50, 0)]

    result = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=200, exclusions=[exploiter.lower()])

    assert exploiter not in amounts(result)
    assert [(entry.account, entry.claim) for entry in result.excluded] == [(exploiter, 50)]
    assert amounts(result) == {address(1): 50, address(2): 150}
    assert result.total_claims == 400


def test_dust_is_dropped_and_reported() -> None:
    # Shares of 500,000 over claims 1,000,000 / 10 / 3 are 499,994 / 5 / 1.
    deltas = [loss(1, 1_000_000), loss(2, 10), loss(3, 3)]

    result = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=500_000, dust_threshold=6)

    assert amounts(result) == {address(1): 499_994}
    assert [(entry.account, entry.claim, entry.amount) for entry in result.dust] == [
        (address(2), 10, 5),
        (address(3), 3, 1),
    ]
    assert (result.dust_count, result.dust_total) == (2, 6)
    assert result.total_allocated + result.dust_total + result.surplus == 500_000


def test_dust_is_not_redistributed_so_paid_shares_are_unchanged() -> None:
    deltas = [loss(1, 1_000), loss(2, 7), loss(3, 3)]

    without = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=505)
    with_dust = allocate(mode="restitute", policy="pro_rata", deltas=deltas, budget=505, dust_threshold=5)

    assert amounts(with_dust) == {address(1): amounts(without)[address(1)]}
    assert with_dust.dust_total == amounts(without)[address(2)] + amounts(without)[address(3)]


@given(claims=losses, budget=budgets, dust_threshold=st.integers(0, 10**29))
def test_allocated_plus_dust_plus_surplus_is_the_budget(claims: list[int], budget: int, dust_threshold: int) -> None:
    result = _pro_rata(claims, budget, dust_threshold)

    assert result.total_allocated + result.dust_total + result.surplus == budget
    assert all(allocation.amount >= dust_threshold for allocation in result.allocations)
    assert all(allocation.amount < dust_threshold for allocation in result.dust)


# --- cap -----------------------------------------------------------------------------------


def test_an_euler_style_cap_lets_a_surplus_pay_up_to_the_capped_entitlement() -> None:
    deltas = [loss(1, 1_000), loss(2, 2_000)]

    result = allocate(
        mode="restitute",
        policy="pro_rata",
        deltas=deltas,
        budget=10_000,
        cap_numerator=1_005,
        cap_denominator=1_000,
    )

    assert amounts(result) == {address(1): 1_005, address(2): 2_010}
    assert (result.total_entitlements, result.surplus, result.cap) == (3_015, 6_985, (1_005, 1_000))


def test_a_cap_below_one_limits_a_full_payment() -> None:
    result = allocate(
        mode="restitute", policy="full", deltas=[loss(1, 999)], budget=None, cap_numerator=1, cap_denominator=2
    )

    assert [(a.claim, a.entitlement, a.amount) for a in result.allocations] == [(999, 499, 499)]


@pytest.mark.parametrize(("numerator", "denominator"), [(1, None), (0, 1), (1, 0), (-1, 2), (True, 1)])
def test_a_bad_cap_is_refused(numerator: object, denominator: object) -> None:
    with pytest.raises(InvalidCap):
        allocate(
            mode="restitute",
            policy="full",
            deltas=[loss(1, 1)],
            budget=None,
            cap_numerator=numerator,  # type: ignore[arg-type]
            cap_denominator=denominator,  # type: ignore[arg-type]
        )


# --- validation ----------------------------------------------------------------------------


def test_a_budget_over_uint256_is_refused() -> None:
    with pytest.raises(BudgetOverflow, match="overflows uint256"):
        allocate(mode="restitute", policy="pro_rata", deltas=[loss(1, 1)], budget=UINT256_MAX + 1)


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(NegativeBudget, match="negative"):
        allocate(mode="restitute", policy="full", deltas=[loss(1, 1)], budget=-1)


@pytest.mark.parametrize("budget", [True, 1.0, "100"])
def test_a_budget_that_is_not_an_int_is_refused(budget: object) -> None:
    with pytest.raises(InvalidBudget, match="must be an int"):
        allocate(mode="restitute", policy="pro_rata", deltas=[loss(1, 1)], budget=budget)  # type: ignore[arg-type]


def test_pro_rata_without_a_budget_is_refused() -> None:
    with pytest.raises(BudgetMissing, match="needs a budget"):
        allocate(mode="restitute", policy="pro_rata", deltas=[loss(1, 1)], budget=None)


def test_duplicate_accounts_are_refused() -> None:
    deltas = [loss(LOWER_FIRST, 1), loss(LOWER_FIRST.lower(), 2)]

    with pytest.raises(DuplicateAccount, match="more than once"):
        allocate(mode="restitute", policy="full", deltas=deltas, budget=None)


@pytest.mark.parametrize(
    ("mode", "policy", "error"), [("refund", "full", UnknownMode), ("restore", "equal", UnknownPolicy)]
)
def test_an_unknown_mode_or_policy_is_refused(mode: str, policy: str, error: type[AllocationError]) -> None:
    with pytest.raises(error, match="expected one of"):
        allocate(mode=mode, policy=policy, deltas=[loss(1, 1)], budget=10)  # type: ignore[arg-type]


def test_every_allocation_error_is_a_value_error() -> None:
    assert issubclass(BudgetOverflow, InvalidBudget) and issubclass(InvalidBudget, AllocationError)
    assert issubclass(AllocationError, ValueError)


def test_deltas_of_two_assets_are_refused() -> None:
    deltas = [loss(1, 1), AccountDelta(address(2), "ETH", 1, 0)]

    with pytest.raises(MixedAssets):
        allocate(mode="restitute", policy="full", deltas=deltas, budget=None)


@pytest.mark.parametrize("before", [-1, UINT256_MAX + 1, 1.5])
def test_a_balance_outside_uint256_is_refused(before: object) -> None:
    with pytest.raises(InvalidDelta, match="uint256"):
        allocate(
            mode="restore",
            policy="full",
            deltas=[AccountDelta(address(1), ASSET, before, 0)],  # type: ignore[arg-type]
            budget=None,
        )


def test_a_malformed_account_or_exclusion_is_refused() -> None:
    with pytest.raises(InvalidAccount, match="not an address"):
        allocate(mode="restitute", policy="full", deltas=[loss("0x1234", 1)], budget=None)
    with pytest.raises(InvalidAccount, match="not an address"):
        allocate(mode="restitute", policy="full", deltas=[loss(1, 1)], budget=None, exclusions=["attacker"])


@pytest.mark.parametrize("threshold", [-1, True, 0.5])
def test_a_bad_dust_threshold_is_refused(threshold: object) -> None:
    with pytest.raises(InvalidDustThreshold):
        allocate(mode="restitute", policy="full", deltas=[loss(1, 1)], budget=None, dust_threshold=threshold)  # type: ignore[arg-type]


# --- output --------------------------------------------------------------------------------


def test_the_result_is_ordered_by_lowercase_address_whatever_the_input_order() -> None:
    forward = [loss(UPPER_SECOND, 5), loss(LOWER_FIRST, 7), loss(1, 3)]

    first = allocate(mode="restitute", policy="pro_rata", deltas=forward, budget=10)
    second = allocate(mode="restitute", policy="pro_rata", deltas=forward[::-1], budget=10)

    assert first == second
    assert [a.account for a in first.allocations] == [address(1), LOWER_FIRST, UPPER_SECOND]


def test_as_json_renders_amounts_as_decimal_strings() -> None:
    result = allocate(
        mode="restitute", policy="pro_rata", deltas=[loss(1, UINT256_MAX)], budget=UINT256_MAX - 1, exclusions=[]
    )

    rendered = result.as_json()

    assert rendered["budget"] == str(UINT256_MAX - 1)
    assert rendered["allocations"] == [
        {
            "account": address(1),
            "claim": str(UINT256_MAX),
            "entitlement": str(UINT256_MAX),
            "amount": str(UINT256_MAX - 1),
        }
    ]
    assert (rendered["total_allocated"], rendered["surplus"], rendered["dust_total"]) == (
        str(UINT256_MAX - 1),
        "0",
        "0",
    )
    assert json.loads(json.dumps(rendered)) == rendered


def test_a_single_string_of_exclusions_is_refused() -> None:
    with pytest.raises(InvalidAccount, match="not one string"):
        allocate(mode="restitute", policy="full", deltas=[loss(1, 1)], budget=None, exclusions=address(1))


@given(claims=losses, extra=st.integers(0, 10**20), dust_threshold=st.integers(0, 10**29))
def test_a_full_allocation_pays_every_claim_and_accounts_for_the_whole_budget(
    claims: list[int], extra: int, dust_threshold: int
) -> None:
    deltas = [loss(n + 1, claim) for n, claim in enumerate(claims)]
    budget = sum(claims) + extra

    result = allocate(mode="restitute", policy="full", deltas=deltas, budget=budget, dust_threshold=dust_threshold)

    assert all(allocation.amount == allocation.claim for allocation in (*result.allocations, *result.dust))
    assert (result.surplus, result.total_allocated + result.dust_total + result.surplus) == (extra, budget)
