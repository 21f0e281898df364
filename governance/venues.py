"""What every venue offers the rest of Lifeboat, whatever it is on, and how a service reaches a governor's chain.

Two kinds exist: an OpenZeppelin Governor on chain (``GovernorVenue``) and, in a later issue,
a Snapshot space. Publishing and following take a ``Venue`` and branch on nothing else than
what it says here; each kind adds its own reads. ``connect_venue`` and ``role_account`` are
what publishing, queueing and executing, and relaying ballots share: a client checked against
the venue's chain, and the key of the role that signs.
"""

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from web3 import Web3

from chain.errors import RpcUnavailable, WrongChain
from chain.redaction import redact, redact_url
from config.preflight import ConfigurationError, load_role_account
from governance.exceptions import SigningKeyMissing
from governance.models import GovernorVenue
from recovery.exceptions import ChainMismatch, ChainUnavailable

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@runtime_checkable
class Venue(Protocol):
    """A place a proposal is put to the token holders, approving plans on one RecoveryExecutor."""

    kind: str  # "governor", later "snapshot"
    chain_id: int
    recovery_executor: str  # where a passed proposal approves the plan's commitment

    @property
    def executor(self) -> str:
        """The account that carries a passed proposal out, and so must hold APPROVER_ROLE."""
        ...


def describe_venue(venue: Venue) -> str:
    """One line naming the venue, for commands and logs."""
    if isinstance(venue, GovernorVenue):
        timelock = f"timelock {venue.timelock}" if venue.timelock else "no timelock (the governor executes)"
        return (
            f"venue {venue.pk}: governor {venue.name!r} {venue.governor} on chain {venue.chain_id}, {timelock}, "
            f"clock {venue.clock_mode}, RecoveryExecutor {venue.recovery_executor}"
        )
    return f"{venue.kind} venue on chain {venue.chain_id}"


def connect_chain(*, rpc_url: str, chain_id: int, subject: str = "the venue") -> Web3:
    """A client for ``rpc_url`` once the node is seen to serve ``chain_id``.

    ``ChainMismatch`` (409, naming ``subject`` and the node by its redacted URL) for a node on
    another chain; ``ChainUnavailable`` (503) for one that does not answer.
    """
    from chain.rpc import connect, require_chain

    try:
        w3 = connect(rpc_url)
        require_chain(w3, chain_id)
    except WrongChain as error:
        raise ChainMismatch(
            f"{subject} is on chain {chain_id}, but the node at {redact_url(rpc_url)} serves chain {error.actual}",
            expected=chain_id,
            actual=error.actual,
        ) from None
    except RpcUnavailable as error:
        raise ChainUnavailable(redact(str(error), secrets=[rpc_url])) from None
    return w3


def connect_venue(venue: GovernorVenue, rpc_url: str) -> Web3:
    """``connect_chain`` for the venue's chain."""
    return connect_chain(rpc_url=rpc_url, chain_id=venue.chain_id, subject=f"venue {venue.pk}")


def role_account(role: str) -> "LocalAccount":
    """The signing account of ``role``; ``SigningKeyMissing`` (503, naming the setting) when it has none."""
    try:
        return load_role_account(role)
    except ConfigurationError as error:
        raise SigningKeyMissing(str(error), role=role) from None
