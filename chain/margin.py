"""The demo margin market's accounts, events and restore payload, in exact integers.

One account's state is what ``MarginMarket.accountOf`` returns and what every ``AccountUpdated``
event carries in full: collateral and margin in the asset's base units, debt in credit base
units (USD with 6 decimals), a signed perpetual size, its entry price (feed decimals) and the
funding index at entry. Valuation follows the contract's integer arithmetic exactly, including
Solidity's division, which truncates toward zero (Python's ``//`` floors).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak

PRICE_SCALE = 10**8  # the demo feed's 8 decimals
FUNDING_SCALE = 10**18
BPS = 10_000
LIQUIDATION_THRESHOLD_BPS = 8_000
MAINTENANCE_MARGIN_BPS = 500
MAX_UINT256 = 2**256 - 1

ACCOUNT_UPDATED = (
    "0x" + keccak(text="AccountUpdated(address,uint256,uint256,int256,uint256,uint256,int256,uint8)").hex()
)
LIQUIDATED = "0x" + keccak(text="Liquidated(address,address,uint256,uint256,uint256,int256,int256)").hex()
FUNDING_ACCRUED = "0x" + keccak(text="FundingAccrued(int256,int256)").hex()

REASONS = ("deposit", "withdraw", "borrow", "repay", "open", "close", "liquidated", "restored")

POSITION_TUPLE = "(address,uint256,uint256,int256,uint256,uint256,int256)"


def tdiv(numerator: int, denominator: int) -> int:
    """Integer division truncating toward zero, as the EVM's SDIV (and Solidity's ``/``) does."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def signed_word(word: int) -> int:
    """A 256-bit word read as a two's-complement ``int256``."""
    return word - 2**256 if word >= 2**255 else word


@dataclass(frozen=True, slots=True)
class MarginAccount:
    """One account's book entry in the market (all integers in base units)."""

    collateral: int = 0
    debt: int = 0
    size: int = 0
    entry_price: int = 0
    margin: int = 0
    entry_funding: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.collateral or self.debt or self.size or self.entry_price or self.margin or self.entry_funding)

    def as_json(self) -> dict[str, str]:
        """Decimal strings: JSON numbers lose precision past 2**53."""
        return {
            "collateral": str(self.collateral),
            "debt": str(self.debt),
            "size": str(self.size),
            "entry_price": str(self.entry_price),
            "margin": str(self.margin),
            "entry_funding": str(self.entry_funding),
        }

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> "MarginAccount":
        return cls(**{name: int(value) for name, value in raw.items()})

    @classmethod
    def from_words(cls, data: bytes) -> "MarginAccount":
        """The first six 32-byte words of ``accountOf``'s return or of an ``AccountUpdated`` event's data."""
        words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 192, 32)]
        return cls(
            collateral=words[0],
            debt=words[1],
            size=signed_word(words[2]),
            entry_price=words[3],
            margin=words[4],
            entry_funding=signed_word(words[5]),
        )


@dataclass(frozen=True, slots=True)
class Valuation:
    """An account valued at one price and funding index, in USD base units (6 decimals)."""

    collateral_value: int
    margin_value: int
    pnl: int
    funding: int
    net_value: int
    health_factor: int  # 1e18 = at the maintenance line; MAX_UINT256 with no debt and no position
    liquidatable: bool


def value(account: MarginAccount, *, price: int, funding_index: int) -> Valuation:
    """What ``netValue``, ``healthFactor`` and ``isLiquidatable`` return for ``account`` at this price."""
    collateral_value = account.collateral * price // PRICE_SCALE
    margin_value = account.margin * price // PRICE_SCALE
    pnl = tdiv(account.size * (price - account.entry_price), PRICE_SCALE) if account.size else 0
    funding = tdiv(account.size * (funding_index - account.entry_funding), FUNDING_SCALE) if account.size else 0
    net = collateral_value + margin_value + pnl - funding - account.debt
    notional = abs(account.size) * price // PRICE_SCALE
    lhs = (collateral_value + margin_value) * LIQUIDATION_THRESHOLD_BPS // BPS + pnl - funding
    rhs = account.debt + notional * MAINTENANCE_MARGIN_BPS // BPS
    health = MAX_UINT256 if rhs == 0 else (0 if lhs <= 0 else lhs * 10**18 // rhs)
    return Valuation(
        collateral_value=collateral_value,
        margin_value=margin_value,
        pnl=pnl,
        funding=funding,
        net_value=net,
        health_factor=health,
        liquidatable=rhs > 0 and lhs < rhs,
    )


@dataclass(frozen=True, slots=True)
class RestoreRow:
    """One account as ``restorePositions`` re-creates it on the migrated market.

    ``funding_debt`` is the old market's funding index minus the account's entry funding at the
    rollback block: the migrated market sets ``entryFunding = fundingIndex - fundingDebt``, so the
    funding the position owes carries over exactly.
    """

    account: str
    collateral: int
    debt: int
    size: int
    entry_price: int
    margin: int
    funding_debt: int

    @classmethod
    def from_account(cls, address: str, account: MarginAccount, *, funding_index: int) -> "RestoreRow":
        return cls(
            account=address,
            collateral=account.collateral,
            debt=account.debt,
            size=account.size,
            entry_price=account.entry_price,
            margin=account.margin,
            funding_debt=funding_index - account.entry_funding if account.size else 0,
        )

    @property
    def asset_needed(self) -> int:
        """Asset units the market pulls for this row: collateral plus margin."""
        return self.collateral + self.margin

    def as_tuple(self) -> tuple[str, int, int, int, int, int, int]:
        return (self.account, self.collateral, self.debt, self.size, self.entry_price, self.margin, self.funding_debt)


def encode_restore(market: str, rows: Sequence[RestoreRow]) -> bytes:
    """``abi.encode(address market, Position[] rows)``: the bytes a restore-positions batch leaf commits to."""
    return encode(["address", f"{POSITION_TUPLE}[]"], [market, [row.as_tuple() for row in rows]])


def restore_total(rows: Iterable[RestoreRow]) -> int:
    """The asset a batch spends from its plan's budget (what the market pulls from the executor)."""
    return sum(row.asset_needed for row in rows)
