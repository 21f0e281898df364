"""Reads for the state-snapshot pages, over ``archive.selectors`` (the API's reads)."""

from typing import Any

from django.core.paginator import Page, Paginator
from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

from archive import selectors
from archive.exceptions import SnapshotAltered, SnapshotNotFound
from archive.models import StateSnapshot

PER_PAGE = 50


def list_snapshot_page(*, page: str | None) -> Page:
    return Paginator(selectors.list_snapshots(), PER_PAGE).get_page(page)


def find_snapshot(snapshot_id: int) -> StateSnapshot | None:
    try:
        return selectors.get_snapshot(snapshot_id)
    except SnapshotNotFound:
        return None


def parse_lookup_address(text: str) -> tuple[str | None, str]:
    """``(address, "")`` for a 20-byte hex address (any case; a mixed-case one must carry a valid
    EIP-55 checksum), else ``(None, why)``."""
    text = text.strip()
    if not is_hex_address(text):
        return None, f"{text[:80]!r} is not an address: 0x followed by 40 hex digits"
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(text):
        return None, f"{text} has a wrong EIP-55 checksum (mixed case): check it, or type it all in lowercase"
    return to_checksum_address(text), ""


def lookup_proof(snapshot: StateSnapshot, account: str) -> tuple[dict[str, Any] | None, str]:
    """One account's leaves and proofs, or ``(None, why)`` when the file is missing or altered."""
    try:
        return selectors.account_proof(snapshot=snapshot, account=account), ""
    except (SnapshotNotFound, SnapshotAltered) as error:
        return None, error.message
