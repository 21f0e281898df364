"""Checks of caller input shared by the API, the commands and the services."""

from collections.abc import Iterable

from eth_typing import ChecksumAddress

from recovery.diff import DiffError, checksum_account
from recovery.exceptions import InvalidInput
from recovery.fields import UINT256_MAX


def parse_address(value: object, *, field: str) -> ChecksumAddress:
    """``value`` as an address given in its EIP-55 checksummed form; anything else is refused.

    All-lowercase input is refused too: it carries no checksum, so a typo would go unseen.
    The message shows the checksummed form to copy after checking it.
    """
    try:
        address = checksum_account(value, label=field)
    except DiffError as error:
        raise InvalidInput(str(error), field=field) from None
    if value != address:
        raise InvalidInput(
            f"{field} {value} is not checksummed (EIP-55); if it is the right address, send {address}", field=field
        )
    return address


def parse_addresses(values: object, *, field: str) -> list[ChecksumAddress]:
    if not isinstance(values, list | tuple):
        raise InvalidInput(f"{field} must be a list of addresses", field=field)
    addresses = [parse_address(value, field=f"{field}[{i}]") for i, value in enumerate(values)]
    seen: set[str] = set()
    for address in addresses:
        if address in seen:
            raise InvalidInput(f"{field} lists {address} twice", field=field)
        seen.add(address)
    return addresses


def parse_amount(value: object, *, field: str) -> int:
    """A uint256 amount in base units, given as a decimal string or an integer (never a float)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{field} must be an integer amount in base units, as a decimal string", field=field)
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(f"{field} {value!r} is not a non-negative whole number of base units", field=field)
    amount = int(text)
    if amount > UINT256_MAX:
        raise InvalidInput(f"{field} {text} overflows uint256 (at most 2**256-1)", field=field)
    return amount


def parse_tx_hashes(values: object, *, field: str) -> list[str]:
    if not isinstance(values, list | tuple):
        raise InvalidInput(f"{field} must be a list of transaction hashes", field=field)
    hashes = []
    for i, value in enumerate(values):
        text = str(value)
        if len(text) != 66 or not text.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in text[2:]):
            raise InvalidInput(f"{field}[{i}] {value!r} is not a transaction hash (0x and 64 hex digits)", field=field)
        hashes.append(text.lower())
    return hashes


def unique_accounts(accounts: Iterable[str], *, field: str) -> None:
    seen: set[str] = set()
    for account in accounts:
        key = account.lower()
        if key in seen:
            raise InvalidInput(f"{field}: account {account} appears more than once", field=field)
        seen.add(key)
