"""The state diff of one asset between the rollback block and the reference block, and its summary.

Pure computation: balances in, per-account deltas and an :class:`ImpactSummary` out. Amounts
are ``int`` base units (uint256 balances; a delta is a *signed* int). Nothing here is ever a
float: values in a reference currency are exact integers rounded down.

Accounts are checksummed addresses at this module's boundary. Ordering is always by the
lowercase address, so the same balances give the same deltas, the same summary and the same
JSON, byte for byte, whatever order the caller's mappings came in.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from eth_typing import ChecksumAddress

from recovery.merkle import keccak256

__all__ = [
    "UINT256_MAX",
    "VALUE_DECIMALS",
    "AccountDelta",
    "DiffError",
    "HistogramBucket",
    "ImpactSummary",
    "LossEntry",
    "Price",
    "checksum_account",
    "diff_balances",
    "summarize",
]

UINT256_MAX: Final = 2**256 - 1
# Values in the reference currency are integers in 1/10**VALUE_DECIMALS of the quote unit:
# cents for USD. Exact, rounded down, and well inside what a display needs.
VALUE_DECIMALS: Final = 2

_HEX_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
# Per hex digit, 0x20 where it is a letter (a-f) / where its nibble is >= 8, else 0.
_LETTERS = bytes.maketrans(b"0123456789abcdef", b"\x00" * 10 + b"\x20" * 6)
_HIGH_NIBBLES = bytes.maketrans(b"0123456789abcdef", b"\x00" * 8 + b"\x20" * 8)


class DiffError(ValueError):
    """Balances or deltas that cannot be diffed or summarised as given."""

    code = "impact_invalid"


def checksum_account(value: object, *, label: str = "account", error: type[ValueError] = DiffError) -> ChecksumAddress:
    """``value`` as an EIP-55 checksummed address, or ``error`` saying why not.

    All-lowercase and all-uppercase hex are accepted (they carry no checksum); mixed case must
    be the correct checksum, because a mixed-case address with a wrong one is a typo.
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise error(f"{label} {value!r} is not an address (0x followed by 40 hex digits)")
    digits = value[2:]
    lower = digits.lower()
    checksummed = _eip55(lower.encode("ascii"))
    if digits not in (lower, digits.upper(), checksummed[2:]):
        raise error(f"{label} {value} has a mixed-case checksum that does not match (EIP-55): check it for a typo")
    return ChecksumAddress(checksummed)


def _eip55(digits: bytes) -> str:
    """EIP-55 of 40 lowercase hex digits: a letter is upper case where keccak's nibble is >= 8.

    Computed on whole 40-byte integers, not character by character: ASCII upper case is lower
    case minus 0x20, so one subtraction flips exactly the letters under a high nibble. Measured
    here, eth_utils' ``to_checksum_address`` costs ~70 us an address and this under 10 us: the
    difference between a minute and a few seconds for every 100,000 accounts a plan touches.
    """
    nibbles = keccak256(digits).hex()[:40].encode("ascii")
    letters = int.from_bytes(digits.translate(_LETTERS), "big")
    high = int.from_bytes(nibbles.translate(_HIGH_NIBBLES), "big")
    return "0x" + (int.from_bytes(digits, "big") - (letters & high)).to_bytes(40, "big").decode("ascii")


def _uint256(value: object, *, label: str) -> int:
    # bool is an int subclass; True as a balance is a bug upstream, not a balance of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise DiffError(f"{label} must be an int in base units, not {type(value).__name__}")
    if not 0 <= value <= UINT256_MAX:
        raise DiffError(f"{label} {value} is outside uint256 (0..2**256-1)")
    return value


def _normalise_asset(asset: object) -> str:
    # An ERC-20 asset is its token address (checksummed); a native asset is a label like "ETH".
    if not isinstance(asset, str) or not asset.strip():
        raise DiffError(f"asset must be a token address or a non-empty label, not {asset!r}")
    if asset.startswith(("0x", "0X")):
        return checksum_account(asset, label="asset")
    return asset


@dataclass(frozen=True, slots=True)
class AccountDelta:
    """One account's balance of one asset at the rollback block (``before``) and now (``after``)."""

    account: str
    asset: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        """``after - before``: negative for a loss. Signed, so not a uint256."""
        return self.after - self.before

    @property
    def loss(self) -> int:
        return max(0, self.before - self.after)

    @property
    def gain(self) -> int:
        return max(0, self.after - self.before)


def diff_balances(*, asset: str, before: Mapping[str, int], after: Mapping[str, int]) -> list[AccountDelta]:
    """Every account present in ``before`` or ``after`` (a missing balance is 0), ordered by address.

    Preconditions: keys are addresses (any valid case; mixed case must be a correct checksum),
    each account at most once per mapping (``0xab..`` and ``0xAB..`` are the same account),
    values uint256 ints. Accounts whose balance did not change are included with delta 0, so the
    caller sees every tracked account. The zero address (mints and burns) is not an account:
    leave it out before calling.
    """
    asset = _normalise_asset(asset)
    # Both mappings usually share their keys: checksum each distinct key once (it costs a keccak).
    known: dict[str, str] = {}
    start = _by_account(before, side="before", known=known)
    end = _by_account(after, side="after", known=known)
    accounts = sorted(start.keys() | end.keys(), key=str.lower)
    return [AccountDelta(account, asset, start.get(account, 0), end.get(account, 0)) for account in accounts]


def _by_account(balances: Mapping[str, int], *, side: str, known: dict[str, str]) -> dict[str, int]:
    checked: dict[str, int] = {}
    for raw, balance in balances.items():
        account = known.get(raw) if isinstance(raw, str) else None
        if account is None:
            account = known[raw] = checksum_account(raw, label=f"{side} account")
        if account in checked:
            raise DiffError(f"account {account} appears twice in the {side} balances (addresses are case-insensitive)")
        checked[account] = _uint256(balance, label=f"{side} balance of {account}")
    return checked


@dataclass(frozen=True, slots=True)
class Price:
    """A reference price, as a Chainlink-style feed gives it.

    ``answer / 10**decimals`` quote units per whole token, where a whole token is
    ``10**asset_decimals`` base units. ``quote`` names the reference currency.
    """

    answer: int
    decimals: int
    asset_decimals: int
    quote: str = "USD"

    def __post_init__(self) -> None:
        for name in ("answer", "decimals", "asset_decimals"):
            number = getattr(self, name)
            if not isinstance(number, int) or isinstance(number, bool):
                raise DiffError(f"price {name} must be an int, not {type(number).__name__}")
        if self.answer <= 0:
            # A feed answers int256; zero or negative is a broken feed, not a price.
            raise DiffError(f"price answer must be positive, not {self.answer}")
        if self.decimals < 0 or self.asset_decimals < 0:
            raise DiffError("price decimals and asset decimals must not be negative")

    def value(self, amount: int) -> int:
        """``amount`` base units in 1/10**VALUE_DECIMALS quote units (cents), rounded down.

        ``amount * answer * 10**VALUE_DECIMALS // (10**asset_decimals * 10**decimals)``: one
        floor division over exact integers, so the only rounding is that final floor.
        """
        return amount * self.answer * 10**VALUE_DECIMALS // (10**self.asset_decimals * 10**self.decimals)


@dataclass(frozen=True, slots=True)
class LossEntry:
    account: str
    loss: int
    # In 1/10**VALUE_DECIMALS quote units, floored per account; None without a price.
    value: int | None


@dataclass(frozen=True, slots=True)
class HistogramBucket:
    """Losses ``lower <= loss < upper`` (``upper`` None: no upper bound)."""

    lower: int
    upper: int | None
    count: int
    total: int


@dataclass(frozen=True, slots=True)
class ImpactSummary:
    """What happened to one asset; see :func:`summarize` for which account counts where."""

    asset: str
    accounts_seen: int
    affected: int
    losers: int
    gainers: int
    total_losses: int
    total_gains: int
    exploiter_gains: int
    other_gains: int
    exploiter_losses: int
    net_change: int
    excluded_accounts: int
    excluded_net_change: int
    top_losers: tuple[LossEntry, ...]
    histogram: tuple[HistogramBucket, ...]
    quote: str | None
    total_losses_value: int | None
    exploiter_gains_value: int | None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict; every amount and value is a decimal string (they exceed 2**53)."""
        return {
            "asset": self.asset,
            "accounts_seen": self.accounts_seen,
            "affected": self.affected,
            "losers": self.losers,
            "gainers": self.gainers,
            "total_losses": str(self.total_losses),
            "total_gains": str(self.total_gains),
            "exploiter_gains": str(self.exploiter_gains),
            "other_gains": str(self.other_gains),
            "exploiter_losses": str(self.exploiter_losses),
            "net_change": str(self.net_change),
            "excluded_accounts": self.excluded_accounts,
            "excluded_net_change": str(self.excluded_net_change),
            "top_losers": [
                {"account": entry.account, "loss": str(entry.loss), "value": _optional_str(entry.value)}
                for entry in self.top_losers
            ],
            "histogram": [
                {
                    "lower": str(bucket.lower),
                    "upper": _optional_str(bucket.upper),
                    "count": bucket.count,
                    "total": str(bucket.total),
                }
                for bucket in self.histogram
            ],
            "quote": self.quote,
            "value_decimals": VALUE_DECIMALS if self.quote is not None else None,
            "total_losses_value": _optional_str(self.total_losses_value),
            "exploiter_gains_value": _optional_str(self.exploiter_gains_value),
        }


def _optional_str(number: int | None) -> str | None:
    return None if number is None else str(number)


def summarize(
    deltas: Iterable[AccountDelta],
    *,
    asset: str | None = None,
    exploiters: Collection[str] = (),
    excluded: Collection[str] = (),
    top: int = 10,
    histogram_edges: Sequence[int] | None = None,
    price: Price | None = None,
) -> ImpactSummary:
    """Summarise the deltas of one asset.

    Preconditions: every delta is of the same asset (``asset``, when given, names it and lets an
    empty diff be summarised); each account appears once.

    Who counts where:

    * ``excluded`` accounts (protocol contracts whose balances move as bookkeeping) are set
      aside: only ``accounts_seen``, ``excluded_accounts`` and ``excluded_net_change`` see them.
    * ``exploiters`` are never victims: their positive deltas sum to ``exploiter_gains``, any
      negative ones (an attack contract emptied into the attacker's wallet) to
      ``exploiter_losses``. An account in both lists is treated as an exploiter, so its gains
      always show.
    * Everyone else: ``losers``/``total_losses`` and ``gainers``/``other_gains``.

    Hence ``total_gains = exploiter_gains + other_gains`` and
    ``net_change = total_gains - total_losses - exploiter_losses``, the sum of every
    non-excluded delta. ``affected`` counts non-excluded accounts with a non-zero delta.

    ``top_losers``: the ``top`` largest victim losses, ties by lowercase address.

    Histogram of victim losses: with ``histogram_edges`` (strictly increasing, >= 1) the buckets
    are ``[1, e0)`` (only when ``e0 > 1``), ``[e0, e1)``, ..., ``[ek, no bound)``. Without, they
    are decades ``[10**k, 10**(k+1))`` from the smallest loss's decade to the largest's, empty
    decades in between kept so the axis is continuous. Decades of base units, not of whole
    tokens: the summary does not need the asset's decimals to be right.

    With ``price``: ``total_losses_value`` and ``exploiter_gains_value`` are the totals valued by
    :meth:`Price.value` (cents for USD, rounded down once, on the total); each top loser's
    ``value`` is floored on its own, so those need not add up to the total.
    """
    deltas = list(deltas)
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise DiffError(f"top must be a non-negative int, not {top!r}")
    asset = _summary_asset(deltas, asset)
    for name, accounts in (("exploiters", exploiters), ("excluded", excluded)):
        if isinstance(accounts, str):
            raise DiffError(f"{name} must be a collection of addresses, not one string")
    exploiter_keys = {checksum_account(account, label="exploiter").lower() for account in exploiters}
    excluded_keys = {checksum_account(account, label="excluded account").lower() for account in excluded}

    seen: set[str] = set()
    victim_losses: list[tuple[str, int]] = []
    affected = gainers = 0
    other_gains = exploiter_gains = exploiter_losses = 0
    excluded_count = excluded_net = 0
    for entry in deltas:
        key = entry.account.lower()
        if key in seen:
            raise DiffError(f"account {entry.account} appears twice in the deltas")
        seen.add(key)
        change = entry.delta
        if key in exploiter_keys:
            exploiter_gains += max(0, change)
            exploiter_losses += max(0, -change)
        elif key in excluded_keys:
            excluded_count += 1
            excluded_net += change
            continue
        elif change < 0:
            victim_losses.append((entry.account, -change))
        elif change > 0:
            gainers += 1
            other_gains += change
        if change != 0:
            affected += 1

    total_losses = sum(loss for _, loss in victim_losses)
    total_gains = exploiter_gains + other_gains
    largest = sorted(victim_losses, key=lambda item: (-item[1], item[0].lower()))[:top]
    return ImpactSummary(
        asset=asset,
        accounts_seen=len(deltas),
        affected=affected,
        losers=len(victim_losses),
        gainers=gainers,
        total_losses=total_losses,
        total_gains=total_gains,
        exploiter_gains=exploiter_gains,
        other_gains=other_gains,
        exploiter_losses=exploiter_losses,
        net_change=total_gains - total_losses - exploiter_losses,
        excluded_accounts=excluded_count,
        excluded_net_change=excluded_net,
        top_losers=tuple(
            LossEntry(account, loss, None if price is None else price.value(loss)) for account, loss in largest
        ),
        histogram=_histogram([loss for _, loss in victim_losses], histogram_edges),
        quote=None if price is None else price.quote,
        total_losses_value=None if price is None else price.value(total_losses),
        exploiter_gains_value=None if price is None else price.value(exploiter_gains),
    )


def _summary_asset(deltas: Sequence[AccountDelta], asset: str | None) -> str:
    assets = {entry.asset for entry in deltas}
    if asset is not None:
        asset = _normalise_asset(asset)
        assets.add(asset)
    if not assets:
        raise DiffError("no deltas and no asset: name the asset to summarise an empty diff")
    if len(assets) > 1:
        raise DiffError(f"a summary covers one asset, these deltas mix {sorted(assets)}")
    return assets.pop()


def _histogram(losses: Sequence[int], edges: Sequence[int] | None) -> tuple[HistogramBucket, ...]:
    bounds = _decade_bounds(losses) if edges is None else _edge_bounds(edges)
    lowers = [lower for lower, _ in bounds]
    counts = [0] * len(bounds)
    totals = [0] * len(bounds)
    for loss in losses:
        # Buckets tile [lowers[0], upper of the last) without gaps and every loss is >= 1 and
        # below the last decade's upper bound, so the bucket is the last lower <= loss.
        position = bisect_right(lowers, loss) - 1
        counts[position] += 1
        totals[position] += loss
    return tuple(
        HistogramBucket(lower, upper, count, total)
        for (lower, upper), count, total in zip(bounds, counts, totals, strict=True)
    )


def _decade_bounds(losses: Sequence[int]) -> list[tuple[int, int | None]]:
    if not losses:
        return []
    # len(str(n)) - 1 is the exact decade of a positive int; no logarithms, no floats.
    low, high = len(str(min(losses))) - 1, len(str(max(losses))) - 1
    return [(10**k, 10 ** (k + 1)) for k in range(low, high + 1)]


def _edge_bounds(edges: Sequence[int]) -> list[tuple[int, int | None]]:
    edges = list(edges)
    if not edges:
        raise DiffError("histogram_edges must not be empty (pass None for decade buckets)")
    for edge in edges:
        if isinstance(edge, bool) or not isinstance(edge, int) or edge < 1:
            raise DiffError(f"histogram edge {edge!r} must be an int >= 1 (base units)")
    if any(later <= earlier for earlier, later in pairwise(edges)):
        raise DiffError(f"histogram edges must be strictly increasing, got {edges}")
    lowers = ([1] if edges[0] > 1 else []) + edges
    uppers: list[int | None] = [*lowers[1:], None]
    return list(zip(lowers, uppers, strict=True))
