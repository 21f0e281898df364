"""Who gets what: a recovery plan's allocation of one asset, from the impact's deltas.

Pure computation over exact integers in base units. Two modes say what an account is owed:

* ``restitute`` — its loss, ``max(0, before - after)``;
* ``restore`` — its whole balance at the rollback block, ``before`` (the state re-created on a
  migrated contract).

Two policies say how much of it is paid:

* ``full`` — every claim in full; a budget, when given, must cover them all;
* ``pro_rata`` — the budget shared in proportion to the claims: floor division, then the
  remaining units one each by largest remainder (ties by lowercase address), so the shares
  sum to the budget exactly. A budget above the total claims pays every claim in full and
  reports the rest as ``surplus``: nobody is ever paid more than their claim (paying a victim
  beyond their loss is a transfer governance did not vote for); what to do with the surplus is
  a separate decision, left to the plan.

Dust: an amount below ``dust_threshold`` is dropped, listed in ``dust`` and counted in
``dust_count``/``dust_total``. Under pro rata the dropped units are *not* redistributed — they
stay unallocated — so each paid amount remains its largest-remainder share, and dropping
dust never changes anyone else's amount. Always::

    total_allocated + dust_total + surplus == budget      (whenever a budget is given)

Optionally a cap (Euler 2023 paid pro rata *capped at 1.005x*): with ``cap_numerator`` and
``cap_denominator`` each account's *entitlement* is ``claim * num // den`` and stands in for
the claim everywhere — pro-rata weight, full payment and ceiling. Without a cap the
entitlement is the claim.

A second class (Euler's "remainder to a second class", pro rata only): ``second_class`` names
accounts paid only from what the first class leaves. The first class (every other account not
excluded) shares the budget pro rata to its entitlements; the part of the budget above the first
class's entitlements is then shared pro rata among the second class, to their entitlements under
the same cap; what both leave is the surplus. So the second class never takes a unit the first
class could have had, nobody is paid above ``claim * num // den``, and still::

    total_allocated + dust_total + surplus == budget
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from recovery.diff import UINT256_MAX, AccountDelta, checksum_account

__all__ = [
    "MODES",
    "POLICIES",
    "Allocation",
    "AllocationError",
    "AllocationResult",
    "BudgetMissing",
    "BudgetOverflow",
    "BudgetTooSmall",
    "DuplicateAccount",
    "Excluded",
    "InvalidAccount",
    "InvalidBudget",
    "InvalidCap",
    "InvalidDelta",
    "InvalidDustThreshold",
    "InvalidSecondClass",
    "MixedAssets",
    "Mode",
    "NegativeBudget",
    "Policy",
    "UnknownMode",
    "UnknownPolicy",
    "allocate",
    "allocate_pro_rata",
]

Mode = Literal["restitute", "restore"]
Policy = Literal["full", "pro_rata"]
MODES: Final[tuple[str, ...]] = get_args(Mode)
POLICIES: Final[tuple[str, ...]] = get_args(Policy)


class AllocationError(ValueError):
    """An allocation that cannot be computed from the inputs as given."""

    code = "allocation_invalid"


class UnknownMode(AllocationError):
    code = "allocation_unknown_mode"


class UnknownPolicy(AllocationError):
    code = "allocation_unknown_policy"


class InvalidBudget(AllocationError):
    code = "allocation_invalid_budget"


class NegativeBudget(InvalidBudget):
    code = "allocation_negative_budget"


class BudgetOverflow(InvalidBudget):
    code = "allocation_budget_overflow"


class BudgetMissing(InvalidBudget):
    code = "allocation_budget_missing"


class BudgetTooSmall(AllocationError):
    code = "allocation_budget_too_small"

    def __init__(self, *, budget: int, total_claims: int) -> None:
        self.budget = budget
        self.total_claims = total_claims
        self.shortfall = total_claims - budget
        super().__init__(
            f"a budget of {budget} cannot pay {total_claims} in full: {self.shortfall} short "
            "(raise the budget or choose the pro_rata policy)"
        )


class DuplicateAccount(AllocationError):
    code = "allocation_duplicate_account"


class InvalidAccount(AllocationError):
    code = "allocation_invalid_account"


class InvalidDelta(AllocationError):
    code = "allocation_invalid_delta"


class MixedAssets(AllocationError):
    code = "allocation_mixed_assets"


class InvalidDustThreshold(AllocationError):
    code = "allocation_invalid_dust_threshold"


class InvalidCap(AllocationError):
    code = "allocation_invalid_cap"


class InvalidSecondClass(AllocationError):
    code = "allocation_invalid_second_class"


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one account is owed (``claim``), may be paid at most (``entitlement``), and gets;
    ``second_class`` when it was paid only from what the first class left."""

    account: str
    claim: int
    amount: int
    entitlement: int
    second_class: bool = False

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "account": self.account,
            "claim": str(self.claim),
            "entitlement": str(self.entitlement),
            "amount": str(self.amount),
        }
        if self.second_class:
            shown["second_class"] = True
        return shown


@dataclass(frozen=True, slots=True)
class Excluded:
    """An excluded account (exploiter, contract) and the claim it would have had."""

    account: str
    claim: int


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """The allocation of one asset. Tuples are ordered by lowercase address.

    ``allocations`` holds every non-excluded account with a positive claim whose amount was not
    dust (an amount of 0 appears only when ``dust_threshold`` is 0). ``total_claims`` sums the
    non-excluded claims, ``total_entitlements`` their entitlements (equal without a cap).
    ``surplus`` is the part of the budget beyond the entitlements (0 without a budget).
    ``second_class`` lists the second-class accounts with a positive claim, and
    ``second_class_allocated`` what they were paid (dust excluded); both empty without one.
    """

    mode: str
    policy: str
    budget: int | None
    allocations: tuple[Allocation, ...]
    total_claims: int
    total_entitlements: int
    total_allocated: int
    excluded: tuple[Excluded, ...]
    dust: tuple[Allocation, ...]
    dust_count: int
    dust_total: int
    surplus: int
    cap: tuple[int, int] | None
    second_class: tuple[str, ...] = ()
    second_class_allocated: int = 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict; every amount is a decimal string (amounts exceed 2**53)."""
        return {
            "mode": self.mode,
            "policy": self.policy,
            "budget": None if self.budget is None else str(self.budget),
            "cap": None if self.cap is None else {"numerator": str(self.cap[0]), "denominator": str(self.cap[1])},
            "allocations": [allocation.as_json() for allocation in self.allocations],
            "total_claims": str(self.total_claims),
            "total_entitlements": str(self.total_entitlements),
            "total_allocated": str(self.total_allocated),
            "excluded": [{"account": entry.account, "claim": str(entry.claim)} for entry in self.excluded],
            "dust": [allocation.as_json() for allocation in self.dust],
            "dust_count": self.dust_count,
            "dust_total": str(self.dust_total),
            "surplus": str(self.surplus),
            "second_class": list(self.second_class),
            "second_class_allocated": str(self.second_class_allocated),
        }


def allocate_pro_rata(claims: Mapping[str, int], budget: int) -> dict[str, int]:
    """Shares of ``budget`` proportional to ``claims``, by largest remainder.

    Preconditions: claims are non-negative ints, keys distinct case-insensitively, budget a
    non-negative int. When ``budget >= sum(claims)`` every claim is paid exactly (the caller
    reports the surplus); otherwise the shares sum to ``budget`` exactly and none exceeds its
    claim. Keys come back in lowercase-address order.
    """
    ordered = sorted(claims.items(), key=lambda item: item[0].lower())
    total = sum(claim for _, claim in ordered)
    if budget >= total:
        return dict(ordered)
    shares: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for account, claim in ordered:
        share, remainder = divmod(budget * claim, total)
        shares[account] = share
        remainders.append((remainder, account))
    # sum(floors) = (budget * total - sum(remainders)) / total, so the units left over number
    # sum(remainders) / total, fewer than the accounts with a positive remainder: each gets at
    # most one. An account with a remainder has share < budget * claim / total < claim, so
    # share + 1 <= claim: the extra unit never lifts anyone above their claim.
    left_over = budget - sum(shares.values())
    remainders.sort(key=lambda item: (-item[0], item[1].lower()))
    for _, account in remainders[:left_over]:
        shares[account] += 1
    return shares


def allocate(
    *,
    mode: Mode,
    policy: Policy,
    deltas: Sequence[AccountDelta],
    budget: int | None,
    exclusions: Collection[str] = (),
    dust_threshold: int = 0,
    cap_numerator: int | None = None,
    cap_denominator: int | None = None,
    second_class: Collection[str] = (),
) -> AllocationResult:
    """Allocate one asset among the accounts of ``deltas``; see the module docstring for the rules.

    Preconditions: the deltas are of one asset, each account once (case-insensitively), with
    uint256 ``before``/``after``; ``budget`` is a uint256 in the asset's base units, required
    for ``pro_rata`` and optional for ``full``; ``exclusions`` are addresses; the cap, when
    given, is two positive ints; ``second_class`` are addresses, none excluded, and only with
    ``pro_rata`` (a full policy pays everyone in full: there is no remainder to speak of).
    Second-class addresses without a claim in ``deltas`` are ignored (a plan's class spans its
    assets). Raises an :class:`AllocationError` subclass otherwise.
    """
    if mode not in MODES:
        raise UnknownMode(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    if policy not in POLICIES:
        raise UnknownPolicy(f"unknown policy {policy!r}: expected one of {', '.join(POLICIES)}")
    _check_budget(budget, policy=policy)
    if isinstance(dust_threshold, bool) or not isinstance(dust_threshold, int) or dust_threshold < 0:
        raise InvalidDustThreshold(f"dust_threshold must be a non-negative int in base units, not {dust_threshold!r}")
    cap = _check_cap(cap_numerator, cap_denominator)
    if isinstance(exclusions, str):
        raise InvalidAccount("exclusions must be a collection of addresses, not one string")
    excluded_keys = {
        checksum_account(account, label="excluded account", error=InvalidAccount).lower() for account in exclusions
    }
    second_keys = _check_second_class(second_class, policy=policy, excluded_keys=excluded_keys)

    claims: dict[str, int] = {}
    excluded: list[Excluded] = []
    seen: set[str] = set()
    assets: set[str] = set()
    for entry in deltas:
        account = checksum_account(entry.account, error=InvalidAccount)
        key = account.lower()
        if key in seen:
            raise DuplicateAccount(f"account {account} appears more than once in the deltas")
        seen.add(key)
        assets.add(entry.asset)
        claim = _claim(entry, mode=mode, account=account)
        if key in excluded_keys:
            excluded.append(Excluded(account, claim))
        elif claim > 0:
            claims[account] = claim
    if len(assets) > 1:
        raise MixedAssets(f"an allocation covers one asset, these deltas mix {sorted(assets)}")

    entitlements = claims if cap is None else {account: claim * cap[0] // cap[1] for account, claim in claims.items()}
    if any(entitlement > UINT256_MAX for entitlement in entitlements.values()):
        raise InvalidCap(f"a cap of {cap_numerator}/{cap_denominator} lifts an entitlement above uint256")
    total_entitlements = sum(entitlements.values())
    seconds = {account for account in claims if account.lower() in second_keys}
    if policy == "full":
        if budget is not None and budget < total_entitlements:
            raise BudgetTooSmall(budget=budget, total_claims=total_entitlements)
        amounts = dict(entitlements)
        surplus = 0 if budget is None else budget - total_entitlements
    else:
        assert budget is not None  # _check_budget refused a pro-rata allocation without one
        first = {account: amount for account, amount in entitlements.items() if account not in seconds}
        amounts = allocate_pro_rata(first, budget)
        # allocate_pro_rata pays min(budget, sum) in total: the rest is what the first class leaves.
        left = budget - sum(amounts.values())
        second = {account: entitlements[account] for account in seconds}
        second_amounts = allocate_pro_rata(second, left)
        amounts.update(second_amounts)
        surplus = left - sum(second_amounts.values())

    paid: list[Allocation] = []
    dust: list[Allocation] = []
    for account in sorted(claims, key=str.lower):
        allocation = Allocation(
            account, claims[account], amounts[account], entitlements[account], second_class=account in seconds
        )
        # A threshold of 0 keeps everything, zero amounts included, so no claim goes unreported.
        (dust if allocation.amount < dust_threshold else paid).append(allocation)
    return AllocationResult(
        mode=mode,
        policy=policy,
        budget=budget,
        allocations=tuple(paid),
        total_claims=sum(claims.values()),
        total_entitlements=total_entitlements,
        total_allocated=sum(allocation.amount for allocation in paid),
        excluded=tuple(sorted(excluded, key=lambda entry: entry.account.lower())),
        dust=tuple(dust),
        dust_count=len(dust),
        dust_total=sum(allocation.amount for allocation in dust),
        surplus=surplus,
        cap=cap,
        second_class=tuple(sorted(seconds, key=str.lower)),
        second_class_allocated=sum(allocation.amount for allocation in paid if allocation.second_class),
    )


def _check_second_class(second_class: object, *, policy: str, excluded_keys: set[str]) -> set[str]:
    if isinstance(second_class, str) or not isinstance(second_class, Collection):
        raise InvalidSecondClass("second_class must be a collection of addresses, not one string")
    if not second_class:
        return set()
    if policy != "pro_rata":
        raise InvalidSecondClass(
            "a second class needs the pro_rata policy: under full every claim is paid, so there is no remainder"
        )
    keys = set()
    for account in second_class:
        checksummed = checksum_account(account, label="second-class account", error=InvalidSecondClass)
        if checksummed.lower() in excluded_keys:
            raise InvalidSecondClass(f"{checksummed} is both excluded and in the second class: choose one")
        keys.add(checksummed.lower())
    return keys


def _check_budget(budget: object, *, policy: str) -> None:
    if budget is None:
        if policy == "pro_rata":
            raise BudgetMissing("a pro_rata allocation needs a budget: the amount recovered, in base units")
        return
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise InvalidBudget(f"budget must be an int in base units, not {type(budget).__name__}")
    if budget < 0:
        raise NegativeBudget(f"budget {budget} is negative")
    if budget > UINT256_MAX:
        raise BudgetOverflow(f"budget {budget} overflows uint256 (at most 2**256-1 base units)")


def _check_cap(numerator: object, denominator: object) -> tuple[int, int] | None:
    if numerator is None and denominator is None:
        return None
    for name, number in (("cap_numerator", numerator), ("cap_denominator", denominator)):
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise InvalidCap(f"{name} must be a positive int (give both or neither), not {number!r}")
    assert isinstance(numerator, int) and isinstance(denominator, int)
    return numerator, denominator


def _claim(entry: AccountDelta, *, mode: str, account: str) -> int:
    for side in ("before", "after"):
        balance = getattr(entry, side)
        if isinstance(balance, bool) or not isinstance(balance, int) or not 0 <= balance <= UINT256_MAX:
            raise InvalidDelta(f"{side} balance of {account} must be a uint256 int, not {balance!r}")
    return entry.before if mode == "restore" else max(0, entry.before - entry.after)
