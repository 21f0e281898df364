"""Migration batches: allocations split into executor transactions under a gas ceiling.

Pure computation. Each batch becomes one ``RecoveryExecutor.executeBatch`` call and one leaf of
the commitment (:mod:`recovery.commitment`), so the split must be deterministic: the same
allocations and gas model always give the same batches, hence the same Merkle root.

The gas model is linear and deliberately simple: a fixed ``gas_base`` per transaction, plus
per recipient ``gas_per_new_recipient`` or ``gas_per_existing_recipient``. The two differ
because a storage slot written from zero costs 20,000 gas and one already non-zero 2,900
(plus 2,100 for a cold slot either way; EIP-2200/2929), so crediting an account that already
holds the asset is cheaper. The
caller calibrates the numbers (e.g. from a measured ``executeBatch`` on anvil) and leaves
headroom under the block gas limit in ``gas_ceiling``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from recovery.commitment import Batch
from recovery.diff import UINT256_MAX, checksum_account

__all__ = [
    "BatchingError",
    "RecipientDoesNotFit",
    "estimate_batch_gas",
    "estimate_claims_gas",
    "plan_batches",
]

_GAS_FIELDS: Final = ("gas_base", "gas_per_new_recipient", "gas_per_existing_recipient")


class BatchingError(ValueError):
    """Allocations or a gas model that cannot be planned into batches."""

    code = "batching_invalid"


class RecipientDoesNotFit(BatchingError):
    code = "batching_recipient_does_not_fit"


def estimate_batch_gas(
    *,
    recipients: Sequence[str],
    gas_base: int,
    gas_per_new_recipient: int,
    gas_per_existing_recipient: int,
    existing: Collection[str] = (),
) -> int:
    """``gas_base`` plus each recipient's cost: existing (already holding the asset) or new.

    Preconditions: non-negative int gas figures; ``recipients`` and ``existing`` are addresses
    (compared case-insensitively).
    """
    _check_gas(gas_base=gas_base, gas_new=gas_per_new_recipient, gas_existing=gas_per_existing_recipient)
    holders = _lower_set(existing)
    return gas_base + sum(
        gas_per_existing_recipient if recipient.lower() in holders else gas_per_new_recipient
        for recipient in recipients
    )


def estimate_claims_gas(*, claims: int, gas_per_claim: int) -> int:
    """Gas of a pull plan: one ``RecoveryExecutor.claim`` per allocation, each paid by its holder.

    The push side is the sum of :func:`estimate_batch_gas` over the batches, paid by the executor.
    """
    for name, number in (("claims", claims), ("gas_per_claim", gas_per_claim)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise BatchingError(f"{name} must be a non-negative int, not {number!r}")
    return claims * gas_per_claim


def plan_batches(
    *,
    allocations: Sequence[tuple[str, int]],
    gas_ceiling: int,
    gas_base: int,
    gas_per_new_recipient: int,
    gas_per_existing_recipient: int,
    existing: Collection[str] = (),
    max_recipients: int | None = None,
    keep_order: bool = False,
) -> list[Batch]:
    """Split ``(account, amount)`` pairs into batches indexed 0..n-1.

    Accounts are ordered by lowercase address, or kept in the caller's order with
    ``keep_order=True``; zero amounts are left out (there is nothing to send). Batches fill
    greedily: a recipient joins the current batch unless that would take its estimated gas
    (:func:`estimate_batch_gas`) above ``gas_ceiling`` or its size above ``max_recipients``;
    then a new batch starts. Every non-zero allocation lands in exactly one batch, unchanged.

    Preconditions: accounts are addresses, each at most once (case-insensitively); amounts are
    uint256 ints. Raises :class:`RecipientDoesNotFit` when even a batch of one recipient would
    exceed the ceiling, and :class:`BatchingError` for any other bad input.
    """
    gas_new, gas_existing = gas_per_new_recipient, gas_per_existing_recipient
    _check_gas(gas_base=gas_base, gas_new=gas_new, gas_existing=gas_existing)
    if isinstance(gas_ceiling, bool) or not isinstance(gas_ceiling, int) or gas_ceiling <= 0:
        raise BatchingError(f"gas_ceiling must be a positive int, not {gas_ceiling!r}")
    if max_recipients is not None and (
        isinstance(max_recipients, bool) or not isinstance(max_recipients, int) or max_recipients < 1
    ):
        raise BatchingError(f"max_recipients must be a positive int or None, not {max_recipients!r}")
    holders = _lower_set(existing)
    entries = _checked(allocations)
    if not keep_order:
        entries.sort(key=lambda entry: entry[0].lower())

    batches: list[Batch] = []
    recipients: list[str] = []
    amounts: list[int] = []
    gas = gas_base
    for account, amount in entries:
        if amount == 0:
            continue
        cost = gas_existing if account.lower() in holders else gas_new
        if gas_base + cost > gas_ceiling:
            raise RecipientDoesNotFit(
                f"{account} alone needs {gas_base + cost} gas ({gas_base} base + {cost}), "
                f"over the ceiling of {gas_ceiling}: raise the ceiling or lower the gas model"
            )
        full = max_recipients is not None and len(recipients) == max_recipients
        if recipients and (gas + cost > gas_ceiling or full):
            batches.append(Batch(len(batches), tuple(recipients), tuple(amounts)))
            recipients, amounts, gas = [], [], gas_base
        recipients.append(account)
        amounts.append(amount)
        gas += cost
    if recipients:
        batches.append(Batch(len(batches), tuple(recipients), tuple(amounts)))
    return batches


def _checked(allocations: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    entries: list[tuple[str, int]] = []
    seen: set[str] = set()
    for position, pair in enumerate(allocations):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise BatchingError(f"allocation {position} must be an (account, amount) pair, not {pair!r}")
        raw, amount = pair
        account = checksum_account(raw, label=f"allocation {position} account", error=BatchingError)
        if account.lower() in seen:
            # Two transfers to one account in a plan is ambiguous: merge them before batching.
            raise BatchingError(f"account {account} appears more than once in the allocations")
        seen.add(account.lower())
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= UINT256_MAX:
            raise BatchingError(f"amount for {account} must be a uint256 int, not {amount!r}")
        entries.append((account, amount))
    return entries


def _check_gas(*, gas_base: int, gas_new: int, gas_existing: int) -> None:
    for name, number in zip(_GAS_FIELDS, (gas_base, gas_new, gas_existing), strict=True):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise BatchingError(f"{name} must be a non-negative int, not {number!r}")


def _lower_set(accounts: Collection[str]) -> set[str]:
    if isinstance(accounts, str):
        raise BatchingError("existing must be a collection of addresses, not one string")
    return {checksum_account(account, label="existing account", error=BatchingError).lower() for account in accounts}
