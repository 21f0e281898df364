"""Reads of the vault's emergency state for the pages and the API: paused, shut down since which block,
the collateral at shutdown, how much of it has left, and what one account can withdraw now.

Everything is read at one *confirmed* block (the head less ``CONFIRMATION_DEPTH``), named with
its hash, through ``chain/vault.py``; amounts stay integers in base units and are formatted
exactly (``format_units``), percentages in integer basis points. A node that does not answer is
``ChainUnavailable`` (503) in words naming no URL; a deployment without a vault is
``VaultNotFound`` (404); a malformed address is ``InvalidInput`` (400).
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chain.balances import token_decimals
from chain.errors import RpcError, RpcUnavailable
from chain.logs import RawRpc
from chain.payouts import token_symbol
from chain.redaction import redact
from chain.rpc import connect
from chain.vault import NotAShutdownVault, VaultState, vault_state, withdrawable
from config.errors import LifeboatError
from proposals.document import format_units
from recovery.exceptions import ChainUnavailable, InvalidInput
from recovery.models import Deployment
from recovery.selectors import get_current_deployment

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# Pages answer quickly when the node is down: one attempt, a short timeout.
_PAGE_TIMEOUT_SECONDS = 5


class VaultNotFound(LifeboatError):
    code = "vault_not_found"
    status = 404


class VaultUnreadable(LifeboatError):
    """The recorded vault does not answer its pause and shutdown views (no code, an older vault)."""

    code = "vault_unreadable"
    status = 409


@dataclass(frozen=True, slots=True)
class VaultStatus:
    deployment_id: int
    chain_id: int
    vault: ChecksumAddress
    asset: ChecksumAddress
    block: int  # the confirmed block everything was read at
    block_hash: str
    state: VaultState
    asset_symbol: str
    asset_decimals: int
    share_decimals: int

    @property
    def withdrawn(self) -> int:
        return self.state.withdrawn_since_shutdown

    @property
    def left(self) -> int:
        """Collateral still in the vault (all of it before shutdown)."""
        return self.state.total_assets

    def assets_text(self, amount: int) -> str:
        unit = f" {self.asset_symbol}" if self.asset_symbol else ""
        return f"{format_units(amount, self.asset_decimals)}{unit}"

    def shares_text(self, amount: int) -> str:
        return format_units(amount, self.share_decimals)


@dataclass(frozen=True, slots=True)
class AccountWithdrawable:
    account: ChecksumAddress
    shares: int
    assets: int
    action: str  # "emergency_withdraw", "redeem", "paused" (nothing until unpaused or shut down), "nothing"
    status: VaultStatus

    @property
    def explanation(self) -> str:
        worth = self.status.assets_text(self.assets)
        return {
            "emergency_withdraw": f"The vault is shut down: emergencyWithdraw pays this account {worth}.",
            "redeem": f"The vault is open: redeeming all its shares pays this account {worth}.",
            "paused": f"The vault is paused: this account's {worth} can be withdrawn once it is unpaused or shut down.",
            "nothing": "This account holds no vault shares: there is nothing to withdraw.",
        }[self.action]


def parse_account(text: str) -> ChecksumAddress:
    """``text`` as an EIP-55 address; ``InvalidInput`` (400) naming the field otherwise."""
    value = (text or "").strip()
    if not _ADDRESS.match(value):
        shown = value[:60] or "an empty value"
        raise InvalidInput(f"{shown} is not an address: give 0x followed by 40 hex digits", field="address")
    return to_checksum_address(value)


def current_vault_deployment() -> Deployment:
    """The current deployment for ``CHAIN_RPC_URL``, which must have a vault and its asset recorded."""
    deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    if deployment is None:
        raise VaultNotFound(
            "no deployment is recorded for the configured node: start the dev chain (`make run`) or record one"
        )
    roles = {contract.role for contract in deployment.contracts.all()}
    if not {"vault", "asset"} <= roles:
        raise VaultNotFound(f"deployment {deployment.pk} has no vault and asset recorded")
    return deployment


def contract_address(deployment: Deployment, role: str) -> ChecksumAddress:
    row = next((c for c in deployment.contracts.all() if c.role == role), None)
    if row is None:
        raise VaultNotFound(f"deployment {deployment.pk} has no {role} recorded")
    return to_checksum_address(row.address)


def read_vault_status(*, deployment: Deployment) -> VaultStatus:
    """The vault's state at the confirmed head, with the asset's symbol and both decimals."""
    with _node_errors():
        rpc = _rpc()
        try:
            return _status(rpc, deployment)
        finally:
            rpc.close()


def read_account_withdrawable(*, deployment: Deployment, account: str) -> AccountWithdrawable:
    """What ``account`` holds and can take out now, read at the same confirmed block as the vault's state."""
    holder = parse_account(account)
    with _node_errors():
        rpc = _rpc()
        try:
            status = _status(rpc, deployment)
            shares, assets = withdrawable(rpc, status.vault, holder, status.block)
        finally:
            rpc.close()
    if shares == 0:
        action = "nothing"
    elif status.state.shut_down:
        action = "emergency_withdraw"
    elif status.state.paused:
        action = "paused"
    else:
        action = "redeem"
    return AccountWithdrawable(account=holder, shares=shares, assets=assets, action=action, status=status)


def percent_text(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with two decimals, rounded down, in integers ("—" of nothing)."""
    if whole <= 0:
        return "—"
    basis_points = part * 10_000 // whole
    return f"{basis_points // 100}.{basis_points % 100:02d}%"


# --- helpers ---


def _status(rpc: RawRpc, deployment: Deployment) -> VaultStatus:
    vault, asset = contract_address(deployment, "vault"), contract_address(deployment, "asset")
    head = int(rpc.call("eth_blockNumber", []), 16)
    block = max(head - int(settings.CONFIRMATION_DEPTH), 0)
    header = rpc.call("eth_getBlockByNumber", [hex(block), False]) or {}
    try:
        state = vault_state(rpc, vault, block)
    except NotAShutdownVault as error:
        raise VaultUnreadable(str(error), vault=vault, block=block) from None
    decimals = token_decimals(rpc, [asset, vault], block)
    symbol = token_symbol(connect(rpc.url, timeout=_PAGE_TIMEOUT_SECONDS), asset, block=block)
    return VaultStatus(
        deployment_id=deployment.pk,
        chain_id=deployment.chain_id,
        vault=vault,
        asset=asset,
        block=block,
        block_hash=str(header.get("hash") or ""),
        state=state,
        asset_symbol=symbol,
        asset_decimals=decimals[asset],
        share_decimals=decimals[vault],
    )


def _rpc() -> RawRpc:
    return RawRpc(settings.CHAIN_RPC_URL, timeout=_PAGE_TIMEOUT_SECONDS, retries=0)


@contextmanager
def _node_errors() -> Iterator[None]:
    """Turn a node's failure into ``ChainUnavailable``, its text redacted (the URL may carry a key)."""
    try:
        yield
    except (RpcUnavailable, RpcError) as error:
        message = redact(str(error), secrets=settings.LIFEBOAT_SECRETS)
        raise ChainUnavailable(f"the chain node did not answer: {message}; try again shortly") from None
