"""Batch planning under a gas ceiling. Pure: no database, no chain."""

from itertools import pairwise

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from recovery.batching import (
    BatchingError,
    RecipientDoesNotFit,
    estimate_batch_gas,
    estimate_claims_gas,
    plan_batches,
)
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.diff import UINT256_MAX

# Checksummed, the first sorts after the second ("0xa2" > "0xA5" as str); by lowercase it sorts before.
LOWER_FIRST = "0xa2A2a2A2A2A2A2a2a2a2a2A2A2A2A2a2A2A2a2a2"
UPPER_SECOND = "0xA5A5A5A5A5A5A5A5A5A5a5a5a5a5a5a5A5a5a5a5"

GAS = {"gas_base": 50_000, "gas_per_new_recipient": 30_000, "gas_per_existing_recipient": 10_000}


def address(n: int) -> str:
    return to_checksum_address(n.to_bytes(20, "big"))


allocation_lists = st.dictionaries(
    st.integers(1, 2**160 - 1).map(address), st.integers(0, UINT256_MAX), max_size=60
).map(lambda shares: list(shares.items()))


def _gas(batch: Batch, existing: set[str]) -> int:
    return estimate_batch_gas(recipients=batch.recipients, existing=existing, **GAS)


@given(
    allocations=allocation_lists,
    ceiling=st.integers(80_000, 600_000),
    existing_mask=st.integers(0, 2**60),
    max_recipients=st.none() | st.integers(1, 8),
)
def test_batches_cover_every_allocation_once_within_the_ceiling(
    allocations: list[tuple[str, int]], ceiling: int, existing_mask: int, max_recipients: int | None
) -> None:
    existing = {account for n, (account, _) in enumerate(allocations) if existing_mask >> n & 1}

    batches = plan_batches(
        allocations=allocations, gas_ceiling=ceiling, existing=existing, max_recipients=max_recipients, **GAS
    )

    paid = [
        (recipient, amount)
        for batch in batches
        for recipient, amount in zip(batch.recipients, batch.amounts, strict=True)
    ]
    assert sorted(paid) == sorted((account, amount) for account, amount in allocations if amount)
    assert [batch.index for batch in batches] == list(range(len(batches)))
    assert all(batch.recipients and _gas(batch, existing) <= ceiling for batch in batches)
    assert max_recipients is None or all(len(batch.recipients) <= max_recipients for batch in batches)
    assert [account.lower() for account, _ in paid] == sorted(account.lower() for account, _ in paid)
    # Greedy: a batch closes only when the next recipient would not have fitted in it.
    for batch, following in pairwise(batches):
        grown = Batch(batch.index, (*batch.recipients, following.recipients[0]), (*batch.amounts, 0))
        assert _gas(grown, existing) > ceiling or len(batch.recipients) == max_recipients


@given(allocations=allocation_lists, ceiling=st.integers(80_000, 600_000))
def test_the_plan_is_deterministic_whatever_the_input_order(allocations: list[tuple[str, int]], ceiling: int) -> None:
    forward = plan_batches(allocations=allocations, gas_ceiling=ceiling, **GAS)
    backward = plan_batches(allocations=allocations[::-1], gas_ceiling=ceiling, **GAS)

    assert forward == backward


def test_a_plan_of_20_new_recipients_fills_batches_greedily() -> None:
    allocations = [(address(n), n) for n in range(1, 21)]

    batches = plan_batches(allocations=allocations, gas_ceiling=200_000, **GAS)

    # 50,000 + 5 x 30,000 = 200,000: five a batch, exactly at the ceiling.
    assert [len(batch.recipients) for batch in batches] == [5, 5, 5, 5]
    assert batches[1] == Batch(1, tuple(address(n) for n in range(6, 11)), (6, 7, 8, 9, 10))
    assert all(_gas(batch, set()) == 200_000 for batch in batches)


def test_recipients_already_holding_the_asset_are_cheaper_so_batches_hold_more() -> None:
    allocations = [(address(n), 1) for n in range(1, 16)]

    batches = plan_batches(
        allocations=allocations, gas_ceiling=200_000, existing=[account.lower() for account, _ in allocations], **GAS
    )

    assert [len(batch.recipients) for batch in batches] == [15]


def test_zero_amounts_are_left_out() -> None:
    batches = plan_batches(allocations=[(address(1), 0), (address(2), 5), (address(3), 0)], gas_ceiling=10**6, **GAS)

    assert batches == [Batch(0, (address(2),), (5,))]
    assert plan_batches(allocations=[(address(1), 0)], gas_ceiling=10**6, **GAS) == []


def test_max_recipients_caps_a_batch() -> None:
    allocations = [(address(n), 1) for n in range(1, 8)]

    batches = plan_batches(allocations=allocations, gas_ceiling=10**9, max_recipients=3, **GAS)

    assert [len(batch.recipients) for batch in batches] == [3, 3, 1]


def test_accounts_are_ordered_by_lowercase_address_unless_the_caller_keeps_its_order() -> None:
    allocations = [(UPPER_SECOND, 1), (LOWER_FIRST, 2)]

    (sorted_batch,) = plan_batches(allocations=allocations, gas_ceiling=10**6, **GAS)
    (kept_batch,) = plan_batches(allocations=allocations, gas_ceiling=10**6, keep_order=True, **GAS)

    assert sorted_batch.recipients == (LOWER_FIRST, UPPER_SECOND)
    assert kept_batch.recipients == (UPPER_SECOND, LOWER_FIRST)


def test_a_recipient_that_cannot_fit_alone_is_refused() -> None:
    with pytest.raises(RecipientDoesNotFit, match="alone needs 80000 gas"):
        plan_batches(allocations=[(address(1), 1)], gas_ceiling=79_999, **GAS)


def test_recipients_are_checksummed() -> None:
    (batch,) = plan_batches(allocations=[(LOWER_FIRST.lower(), 1)], gas_ceiling=10**6, **GAS)

    assert batch.recipients == (LOWER_FIRST,)


@pytest.mark.parametrize(
    ("allocations", "message"),
    [
        ([(LOWER_FIRST, 1), (LOWER_FIRST.lower(), 2)], "more than once"),
        ([("0x1234", 1)], "not an address"),
        ([(LOWER_FIRST[:2] + LOWER_FIRST[2:].swapcase(), 1)], "checksum"),
        ([(LOWER_FIRST, -1)], "uint256"),
        ([(LOWER_FIRST, UINT256_MAX + 1)], "uint256"),
        ([(LOWER_FIRST, 1.0)], "uint256"),
        ([(LOWER_FIRST, True)], "uint256"),
        ([(LOWER_FIRST,)], "pair"),
    ],
)
def test_bad_allocations_are_refused(allocations: list[tuple[object, ...]], message: str) -> None:
    with pytest.raises(BatchingError, match=message):
        plan_batches(allocations=allocations, gas_ceiling=10**6, **GAS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"gas_ceiling": 0},
        {"gas_base": -1},
        {"gas_per_new_recipient": 1.5},
        {"max_recipients": 0},
        {"gas_ceiling": True},
    ],
)
def test_a_bad_gas_model_is_refused(overrides: dict[str, object]) -> None:
    arguments: dict[str, object] = {"allocations": [(address(1), 1)], "gas_ceiling": 10**6, **GAS, **overrides}

    with pytest.raises(BatchingError, match="must be a"):
        plan_batches(**arguments)  # type: ignore[arg-type]


def test_estimate_batch_gas_adds_the_base_and_each_recipients_cost() -> None:
    gas = estimate_batch_gas(recipients=[address(1), address(2), address(3)], existing=[address(2).lower()], **GAS)

    assert gas == 50_000 + 30_000 + 10_000 + 30_000


def test_planned_batches_form_a_commitment() -> None:
    batches = plan_batches(allocations=[(address(n), n * 10**18) for n in range(1, 12)], gas_ceiling=200_000, **GAS)

    tree = build_commitment(batches, domain=CommitmentDomain(31337, address(99), 7))

    assert len(batches) == 3 and tree.root


def test_the_gas_of_a_pull_plan_is_one_claim_per_allocation() -> None:
    assert estimate_claims_gas(claims=24, gas_per_claim=110_000) == 2_640_000
    assert estimate_claims_gas(claims=0, gas_per_claim=110_000) == 0
    with pytest.raises(BatchingError, match="claims must be"):
        estimate_claims_gas(claims=-1, gas_per_claim=110_000)
