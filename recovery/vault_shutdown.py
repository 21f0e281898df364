"""Shutting the vault down from Lifeboat: the committee's last resort when a pause is not enough.

``shut_down_vault`` sends the vault's ``shutdown()`` with the guardian key
(``settings.LIFEBOAT_KEYS["guardian"]``) and records who asked and the transaction
(``VaultShutdown``). It is idempotent: a vault already shut down (read at the head, or a
``VaultShutDown`` revert when two requests race) answers "already shut down since block N" and
sends and records nothing. The chain is read and written before any database write, so no row
lock is held across a network call.
"""

from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from web3.exceptions import TimeExhausted, Web3RPCError

from chain.errors import Reverted, RpcError, RpcUnavailable, WrongChain
from chain.rpc import connect, require_chain, rpc_unavailable
from chain.vault import NotAShutdownVault, shutdown_vault, vault_state
from config.errors import LifeboatError
from config.preflight import ConfigurationError, load_role_account
from recovery.exceptions import ChainMismatch, ChainUnavailable
from recovery.models import Deployment, VaultShutdown
from recovery.vault_status import VaultUnreadable, contract_address


class GuardianUnavailable(LifeboatError):
    """The guardian key is missing, or its account may not shut the vault down."""

    code = "guardian_unavailable"
    status = 409


class ShutdownRefused(LifeboatError):
    """The vault refused ``shutdown()`` for a reason other than the two above (its revert is named)."""

    code = "shutdown_refused"
    status = 409


@dataclass(frozen=True, slots=True)
class ShutdownOutcome:
    already: bool  # True: nothing was sent
    shutdown_block: int
    shutdown_assets: int
    record: VaultShutdown | None

    @property
    def message(self) -> str:
        if self.already:
            return f"The vault was already shut down in block {self.shutdown_block}: nothing was sent."
        return f"The vault is shut down (block {self.shutdown_block}, transaction {self.record.tx_hash})."  # type: ignore[union-attr]


def shut_down_vault(*, deployment: Deployment, requested_by: Any) -> ShutdownOutcome:
    """Shut the deployment's vault down with the guardian key, once; record who asked and the transaction."""
    vault = contract_address(deployment, "vault")
    try:
        guardian = load_role_account("guardian")
    except ConfigurationError as error:
        raise GuardianUnavailable(str(error)) from None
    try:
        w3 = connect(settings.CHAIN_RPC_URL, timeout=settings.CHAIN_RPC_TIMEOUT)
    except RpcUnavailable as error:
        raise ChainUnavailable(str(error)) from None
    try:
        require_chain(w3, deployment.chain_id)
        state = vault_state(w3, vault, int(w3.eth.block_number))
        if state.shut_down:
            return ShutdownOutcome(True, state.shutdown_block, state.shutdown_assets, None)
        try:
            receipt = shutdown_vault(w3, vault, guardian)
        except Reverted as error:
            if error.error == "VaultShutDown":  # another request won the race: it is done, and not by us
                state = vault_state(w3, vault, int(w3.eth.block_number))
                return ShutdownOutcome(True, state.shutdown_block, state.shutdown_assets, None)
            if error.error in ("NotGovernanceOrGuardian", "NotGuardian"):
                raise GuardianUnavailable(
                    f"the guardian key's account {guardian.address} may not shut the vault down (it is neither the "
                    "vault's guardian nor its governance): set GUARDIAN_PRIVATE_KEY to the guardian's key",
                    account=guardian.address,
                ) from None
            raise ShutdownRefused(f"the vault refused shutdown(): {error}", revert=error.error) from None
    except NotAShutdownVault as error:
        raise VaultUnreadable(str(error), vault=vault) from None
    except WrongChain as error:
        raise ChainMismatch(
            f"{error}: the deployment's vault is on chain {deployment.chain_id}; nothing was sent"
        ) from None
    except TimeExhausted:
        raise ChainUnavailable(
            "shutdown() was sent but not mined in time; this page shows the vault shut down once it is"
        ) from None
    except (RpcUnavailable, RpcError) as error:  # chain/ has redacted these already
        raise ChainUnavailable(f"while shutting the vault down, {error}; nothing is recorded") from None
    except (Web3RPCError, requests.RequestException, OSError) as error:
        raise ChainUnavailable(
            f"while shutting the vault down, {rpc_unavailable(w3, error)}; nothing is recorded"
        ) from None
    record = VaultShutdown.objects.create(
        deployment=deployment,
        chain_id=deployment.chain_id,
        vault=vault,
        sent_by=receipt.by,
        tx_hash=receipt.tx_hash,
        block_number=receipt.block,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
    )
    return ShutdownOutcome(False, receipt.block, receipt.assets, record)
