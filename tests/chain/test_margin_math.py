"""chain.margin's integer arithmetic: truncating division, signed words, the restore payload.

That the valuation equals the market's own views is tested against the contract on anvil
(tests/contracts/test_margin_market.py); these pin the building blocks on their own.
"""

import random

import pytest
from eth_abi import decode

from chain.margin import (
    POSITION_TUPLE,
    MarginAccount,
    RestoreRow,
    encode_restore,
    restore_total,
    signed_word,
    tdiv,
    value,
)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(7, 2, 3), (-7, 2, -3), (7, -2, -3), (-7, -2, 3), (-8, 2, -4), (0, 5, 0), (-1, 10**8, 0)],
)
def test_tdiv_truncates_toward_zero_like_sdiv(numerator: int, denominator: int, expected: int) -> None:
    assert tdiv(numerator, denominator) == expected


def test_tdiv_agrees_with_the_definition_on_random_integers() -> None:
    rng = random.Random(16)
    for _ in range(2_000):
        numerator = rng.randint(-(2**200), 2**200)
        denominator = rng.choice([1, 3, 10**8, 10**18, -7, rng.randint(1, 2**64)])
        quotient = tdiv(numerator, denominator)
        # |quotient * denominator| never exceeds |numerator|, and the remainder keeps the numerator's sign.
        remainder = numerator - quotient * denominator
        assert abs(remainder) < abs(denominator)
        assert remainder == 0 or (remainder > 0) == (numerator > 0)


def test_signed_words_and_state_words_round_trip() -> None:
    assert signed_word(2**256 - 1) == -1
    assert signed_word(2**255 - 1) == 2**255 - 1
    account = MarginAccount(collateral=5, debt=6, size=-(10**12), entry_price=99_000_000, margin=7, entry_funding=-3)
    words = b"".join(
        (v % 2**256).to_bytes(32, "big")
        for v in (account.collateral, account.debt, account.size, account.entry_price, account.margin, -3)
    )
    assert MarginAccount.from_words(words + b"\x00" * 32) == account
    assert MarginAccount.from_json(account.as_json()) == account


def test_an_empty_account_has_no_value_and_can_never_be_liquidated() -> None:
    valuation = value(MarginAccount(), price=80_000_000, funding_index=10**17)
    assert (valuation.net_value, valuation.liquidatable, valuation.health_factor) == (0, False, 2**256 - 1)
    assert MarginAccount().is_empty


def test_a_short_in_profit_after_a_price_drop_pays_negative_funding_exactly() -> None:
    account = MarginAccount(
        collateral=1_000_000_000,
        debt=500_000_000,
        size=-300_000_000,
        entry_price=10**8,
        margin=50_000_000,
        entry_funding=5,
    )
    valuation = value(account, price=90_000_000, funding_index=10**16)
    # pnl = -300e6 * (0.9e8 - 1e8) / 1e8 = 30e6; funding = -300e6 * (1e16 - 5) / 1e18 truncated = -2_999_999.
    assert (valuation.pnl, valuation.funding) == (30_000_000, -2_999_999)
    assert valuation.net_value == 900_000_000 + 45_000_000 + 30_000_000 + 2_999_999 - 500_000_000


def test_the_restore_payload_is_the_market_then_the_rows_and_carries_funding_owed() -> None:
    account = MarginAccount(collateral=10, debt=4, size=3, entry_price=10**8, margin=2, entry_funding=40)
    row = RestoreRow.from_account("0x" + "22" * 20, account, funding_index=100)
    assert row.funding_debt == 60
    payload = encode_restore("0x" + "11" * 20, [row, row])
    market, rows = decode(["address", f"{POSITION_TUPLE}[]"], payload)
    assert market == "0x" + "11" * 20
    assert [tuple(r) for r in rows] == [row.as_tuple(), row.as_tuple()]
    assert restore_total([row, row]) == 24
