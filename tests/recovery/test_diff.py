"""The state diff and its summary: pure, so no database and no chain."""

import json

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from recovery.diff import (
    UINT256_MAX,
    AccountDelta,
    DiffError,
    HistogramBucket,
    Price,
    checksum_account,
    diff_balances,
    summarize,
)

ASSET = to_checksum_address("0x" + "5a" * 20)
# Checksummed, the first sorts after the second ("0xa2" > "0xA5" as str); by lowercase it sorts before.
LOWER_FIRST = "0xa2A2a2A2A2A2A2a2a2a2a2A2A2A2A2a2A2A2a2a2"
UPPER_SECOND = "0xA5A5A5A5A5A5A5A5A5A5a5a5a5a5a5a5A5a5a5a5"


def address(n: int) -> str:
    return to_checksum_address(n.to_bytes(20, "big"))


def delta(n: int, before: int, after: int) -> AccountDelta:
    return AccountDelta(address(n), ASSET, before, after)


balances = st.dictionaries(st.integers(1, 2**160 - 1).map(address), st.integers(0, UINT256_MAX), max_size=25)


# --- diff_balances -------------------------------------------------------------------------


def test_every_account_in_either_block_is_diffed_and_a_missing_balance_is_zero() -> None:
    deltas = diff_balances(asset=ASSET, before={address(1): 10, address(2): 5}, after={address(2): 7, address(3): 4})

    assert [(d.account, d.before, d.after, d.delta) for d in deltas] == [
        (address(1), 10, 0, -10),
        (address(2), 5, 7, 2),
        (address(3), 0, 4, 4),
    ]


def test_deltas_are_ordered_by_lowercase_address_whatever_the_input_order() -> None:
    deltas = diff_balances(asset=ASSET, before={UPPER_SECOND: 1, LOWER_FIRST: 2}, after={})

    assert [d.account for d in deltas] == [LOWER_FIRST, UPPER_SECOND]


def test_accounts_are_checksummed_and_the_asset_too() -> None:
    (only,) = diff_balances(asset=ASSET.lower(), before={LOWER_FIRST.lower(): 1}, after={})

    assert only.account == LOWER_FIRST and only.asset == ASSET


def test_a_native_asset_keeps_its_label() -> None:
    (only,) = diff_balances(asset="ETH", before={address(1): 1}, after={address(1): 1})

    assert only.asset == "ETH" and only.delta == 0


def test_the_same_account_in_two_cases_is_refused() -> None:
    with pytest.raises(DiffError, match="appears twice in the before balances"):
        diff_balances(asset=ASSET, before={LOWER_FIRST: 1, LOWER_FIRST.lower(): 2}, after={})


def test_an_address_with_a_wrong_checksum_is_refused() -> None:
    wrong = LOWER_FIRST[:2] + LOWER_FIRST[2:].swapcase()

    with pytest.raises(DiffError, match="mixed-case checksum that does not match"):
        diff_balances(asset=ASSET, before={wrong: 1}, after={})


@pytest.mark.parametrize("balance", [-1, UINT256_MAX + 1, True, 1.0, "1"])
def test_a_balance_that_is_not_a_uint256_int_is_refused(balance: object) -> None:
    with pytest.raises(DiffError, match="after balance"):
        diff_balances(asset=ASSET, before={}, after={address(1): balance})


@pytest.mark.parametrize("value", ["0x1234", "ab" * 20, 42, "0x" + "g" * 40])
def test_checksum_account_refuses_what_is_not_an_address(value: object) -> None:
    with pytest.raises(DiffError, match="is not an address"):
        checksum_account(value)


@given(before=balances, after=balances)
def test_the_diff_covers_the_union_and_reproduces_both_sides(before: dict[str, int], after: dict[str, int]) -> None:
    deltas = diff_balances(asset=ASSET, before=before, after=after)

    assert {d.account for d in deltas} == before.keys() | after.keys()
    assert all(d.before == before.get(d.account, 0) and d.after == after.get(d.account, 0) for d in deltas)
    assert [d.account.lower() for d in deltas] == sorted(d.account.lower() for d in deltas)
    assert sum(d.delta for d in deltas) == sum(after.values()) - sum(before.values())


# --- summarize -----------------------------------------------------------------------------


def test_the_summary_counts_losers_gainers_and_the_exploiters_gains_separately() -> None:
    deltas = [delta(1, 100, 40), delta(2, 50, 0), delta(3, 10, 15), delta(4, 7, 7), delta(9, 0, 90)]

    summary = summarize(deltas, exploiters=[address(9)])

    assert (summary.accounts_seen, summary.affected, summary.losers, summary.gainers) == (5, 4, 2, 1)
    assert (summary.total_losses, summary.exploiter_gains, summary.other_gains, summary.total_gains) == (110, 90, 5, 95)
    assert summary.net_change == -15 == sum(d.delta for d in deltas)


def test_the_exploiter_is_never_listed_among_the_victims() -> None:
    # The attack contract swept into the attacker's wallet: a "loss" that is no victim's.
    deltas = [delta(1, 100, 0), delta(8, 60, 0), delta(9, 0, 160)]

    summary = summarize(deltas, exploiters=[address(8), address(9)])

    assert [entry.account for entry in summary.top_losers] == [address(1)]
    assert (summary.losers, summary.total_losses, summary.exploiter_losses, summary.exploiter_gains) == (
        1,
        100,
        60,
        160,
    )
    assert summary.net_change == 0


def test_excluded_accounts_are_set_aside_but_counted() -> None:
    deltas = [delta(1, 100, 40), delta(5, 1000, 0)]

    summary = summarize(deltas, excluded=[address(5).lower()])

    assert (summary.accounts_seen, summary.affected, summary.losers, summary.total_losses) == (2, 1, 1, 60)
    assert (summary.excluded_accounts, summary.excluded_net_change) == (1, -1000)


def test_top_losers_are_the_largest_with_ties_broken_by_lowercase_address() -> None:
    deltas = [
        AccountDelta(UPPER_SECOND, ASSET, 50, 0),
        AccountDelta(LOWER_FIRST, ASSET, 50, 0),
        delta(1, 10, 0),
        delta(2, 80, 0),
    ]

    summary = summarize(deltas, top=3)

    assert [(entry.account, entry.loss) for entry in summary.top_losers] == [
        (address(2), 80),
        (LOWER_FIRST, 50),
        (UPPER_SECOND, 50),
    ]


def test_the_default_histogram_has_decade_buckets_from_the_smallest_to_the_largest_loss() -> None:
    deltas = [delta(1, 15, 0), delta(2, 99, 0), delta(3, 12_345, 0), delta(4, 0, 3)]

    summary = summarize(deltas)

    assert summary.histogram == (
        HistogramBucket(10, 100, 2, 114),
        HistogramBucket(100, 1_000, 0, 0),
        HistogramBucket(1_000, 10_000, 0, 0),
        HistogramBucket(10_000, 100_000, 1, 12_345),
    )


def test_custom_histogram_edges_give_an_open_first_and_last_bucket() -> None:
    deltas = [delta(1, 5, 0), delta(2, 10, 0), delta(3, 10**30, 0)]

    summary = summarize(deltas, histogram_edges=[10, 1_000])

    assert summary.histogram == (
        HistogramBucket(1, 10, 1, 5),
        HistogramBucket(10, 1_000, 1, 10),
        HistogramBucket(1_000, None, 1, 10**30),
    )


@pytest.mark.parametrize("edges", [[], [0, 10], [10, 10], [100, 10], [1.5]])
def test_bad_histogram_edges_are_refused(edges: list[object]) -> None:
    with pytest.raises(DiffError, match="histogram"):
        summarize([delta(1, 5, 0)], histogram_edges=edges)  # type: ignore[arg-type]


def test_losses_are_valued_exactly_in_cents_rounding_down() -> None:
    # 1.5 tokens of 18 decimals at 2000.12345678 USD (8-decimal feed) = 3000.18518517 USD.
    deltas = [delta(1, 15 * 10**17, 0), delta(2, 1, 0), delta(9, 0, 3 * 10**18)]
    price = Price(answer=200_012_345_678, decimals=8, asset_decimals=18)

    summary = summarize(deltas, exploiters=[address(9)], price=price)

    assert summary.total_losses_value == 300_018
    assert [entry.value for entry in summary.top_losers] == [300_018, 0]
    assert summary.exploiter_gains_value == 600_037
    assert summary.quote == "USD"


@pytest.mark.parametrize(
    ("answer", "decimals", "asset_decimals"), [(0, 8, 18), (-5, 8, 18), (1, -1, 18), (1, 8, -1), (1.0, 8, 18)]
)
def test_a_broken_price_is_refused(answer: object, decimals: int, asset_decimals: int) -> None:
    with pytest.raises(DiffError, match="price"):
        Price(answer=answer, decimals=decimals, asset_decimals=asset_decimals)  # type: ignore[arg-type]


def test_as_json_renders_every_amount_as_a_decimal_string() -> None:
    huge = UINT256_MAX
    deltas = [delta(1, huge, 0), delta(9, 0, huge)]

    rendered = summarize(deltas, exploiters=[address(9)], price=Price(1, 0, 0)).as_json()

    assert rendered["total_losses"] == str(huge) and rendered["exploiter_gains"] == str(huge)
    assert rendered["top_losers"] == [{"account": address(1), "loss": str(huge), "value": str(huge * 100)}]
    assert rendered["histogram"][-1]["upper"] == str(10**78)
    assert rendered["value_decimals"] == 2
    assert json.loads(json.dumps(rendered)) == rendered


def test_deltas_of_two_assets_cannot_share_a_summary() -> None:
    with pytest.raises(DiffError, match="one asset"):
        summarize([delta(1, 1, 0), AccountDelta(address(2), "ETH", 1, 0)])


def test_an_empty_diff_is_summarised_when_its_asset_is_named() -> None:
    summary = summarize([], asset=ASSET)

    assert (summary.asset, summary.accounts_seen, summary.histogram, summary.top_losers) == (ASSET, 0, (), ())
    with pytest.raises(DiffError, match="name the asset"):
        summarize([])


def test_a_summary_refuses_the_same_account_twice() -> None:
    with pytest.raises(DiffError, match="appears twice"):
        summarize([delta(1, 1, 0), AccountDelta(address(1).lower(), ASSET, 2, 0)])


@given(
    changes=st.lists(st.tuples(st.integers(0, UINT256_MAX), st.integers(0, UINT256_MAX)), max_size=30),
    exploiter_mask=st.integers(0, 2**30),
    excluded_mask=st.integers(0, 2**30),
    top=st.integers(0, 40),
)
def test_summary_totals_agree_with_the_deltas(
    changes: list[tuple[int, int]], exploiter_mask: int, excluded_mask: int, top: int
) -> None:
    deltas = [delta(n + 1, before, after) for n, (before, after) in enumerate(changes)]
    exploiters = [d.account for n, d in enumerate(deltas) if exploiter_mask >> n & 1]
    excluded = [d.account for n, d in enumerate(deltas) if excluded_mask >> n & 1]

    summary = summarize(deltas, asset=ASSET, exploiters=exploiters, excluded=excluded, top=top)

    counted = [d for d in deltas if d.account in exploiters or d.account not in excluded]
    assert summary.net_change == sum(d.delta for d in counted)
    assert summary.total_gains == summary.exploiter_gains + summary.other_gains
    assert summary.affected == sum(1 for d in counted if d.delta)
    assert sum(bucket.count for bucket in summary.histogram) == summary.losers
    assert sum(bucket.total for bucket in summary.histogram) == summary.total_losses
    assert len(summary.top_losers) == min(top, summary.losers)
    assert [entry.loss for entry in summary.top_losers] == sorted((e.loss for e in summary.top_losers), reverse=True)
    assert summary.excluded_accounts + len(counted) == summary.accounts_seen


@given(raw=st.binary(min_size=20, max_size=20), case=st.sampled_from(["lower", "upper", "checksum"]))
def test_checksum_account_agrees_with_eth_utils(raw: bytes, case: str) -> None:
    expected = to_checksum_address(raw)
    given_as = {"lower": "0x" + raw.hex(), "upper": "0x" + raw.hex().upper(), "checksum": expected}[case]

    assert checksum_account(given_as) == expected
