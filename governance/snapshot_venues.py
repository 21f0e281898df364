"""Adding a Snapshot space as a venue: its settings read from the hub, its approver checked on chain.

Nothing is stored until the space is seen to be one Lifeboat can recount exactly (one
``erc20-votes`` strategy on the space's network, whose ``getPastVotes`` at the snapshot block is
each voter's power) and its approver is seen able to carry a passed proposal out: it holds
``APPROVER_ROLE`` on the RecoveryExecutor (and, for a Safe, is a contract).
"""

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from eth_utils import is_address, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError

from chain.artifacts import bind
from chain.errors import ChainError, RpcUnavailable
from chain.redaction import redact, redact_url
from chain.wallets import has_code
from config.errors import LifeboatError
from governance.exceptions import ApproverRoleMissing, NotARecoveryExecutorVenue
from governance.models import SnapshotVenue
from governance.models.snapshot import ApproverKind
from governance.snapshot_client import graphql
from governance.snapshot_errors import (
    SnapshotApproverNotAContract,
    SnapshotSpaceNotFound,
    SnapshotSpaceUnsupported,
)
from governance.venues import connect_chain
from recovery.exceptions import ChainUnavailable, InvalidInput

SPACE_QUERY = """
query Space($id: String!) {
  space(id: $id) {
    id
    name
    network
    strategies { name network params }
    admins
    moderators
    members
    filters { minScore onlyMembers }
    voting { delay period type quorum }
  }
}
"""

# The strategy Lifeboat recounts: each voter's ``getVotes`` at the snapshot block, in token units.
RECOUNTABLE_STRATEGY = "erc20-votes"


def add_snapshot_venue(
    *,
    space: str,
    sequencer_url: str,
    hub_url: str,
    recovery_executor: str,
    approver: str,
    approver_kind: str = ApproverKind.KEY,
    rpc_url: str,
    added_by: AbstractBaseUser | None = None,
) -> SnapshotVenue:
    """Read space ``space`` from the hub at ``hub_url``, check it and its approver on chain, store the venue.

    Idempotent: a space already stored for this hub is read and checked again and updated
    (with the URLs, RecoveryExecutor and approver given now). Refusals, with nothing written:
    ``InvalidInput`` (400) for a malformed address or approver kind; ``SnapshotSpaceNotFound``
    (404) when the hub has no such space; ``SnapshotSpaceUnsupported`` (409) for a space whose
    voting power Lifeboat cannot recount exactly; ``ChainMismatch`` (409) when the node at
    ``rpc_url`` is not on the space's network; ``NotARecoveryExecutorVenue`` (400);
    ``SnapshotApproverNotAContract`` (400) for a Safe approver without code;
    ``ApproverRoleMissing`` (409, naming the ``grantRole`` to send); ``SnapshotUnavailable`` /
    ``ChainUnavailable`` (503) and ``SnapshotHubError`` (502) when the hub or node fails.
    """
    space = (space or "").strip()
    if not space:
        raise InvalidInput("the space id is empty: give the Snapshot space's id, e.g. lifeboat.eth", field="space")
    if approver_kind not in ApproverKind.values:
        raise InvalidInput(
            f"approver kind {approver_kind!r} is neither 'key' nor 'safe'", field="approver_kind", value=approver_kind
        )
    recovery_executor = _address(recovery_executor, "recovery_executor")
    approver = _address(approver, "approver")
    settings = read_space(hub_url=hub_url, space=space)
    w3 = connect_chain(rpc_url=rpc_url, chain_id=settings["chain_id"], subject=f"the Snapshot space {space}")
    _check_executor_and_approver(
        w3, recovery_executor=recovery_executor, approver=approver, approver_kind=approver_kind, rpc_url=rpc_url
    )
    decimals = _token_decimals(w3, settings, rpc_url=rpc_url)
    quorum = _base_units(settings["hub_quorum"], decimals)
    with transaction.atomic():
        venue = SnapshotVenue.objects.select_for_update().filter(hub_url=hub_url, space=space).first()
        if venue is None:
            venue = SnapshotVenue(hub_url=hub_url, space=space, added_by=added_by)
        venue.name = settings["name"][:200]
        venue.chain_id = settings["chain_id"]
        venue.sequencer_url = sequencer_url
        venue.recovery_executor = recovery_executor
        venue.approver_kind = approver_kind
        venue.approver = approver
        venue.token = settings["token"]
        venue.token_decimals = decimals
        venue.voting_delay = settings["voting_delay"]
        venue.voting_period = settings["voting_period"]
        venue.voting_type = settings["voting_type"]
        venue.quorum = quorum
        venue.hub_quorum = str(settings["hub_quorum"])
        venue.authors = settings["authors"]
        venue.only_members = settings["only_members"]
        venue.strategies = settings["strategies"]
        venue.probed_at = timezone.now()
        venue.save()
    return venue


def probe_snapshot_venue(*, venue_id: int, rpc_url: str) -> SnapshotVenue:
    """Read the stored venue's space again and update it; same errors as ``add_snapshot_venue``."""
    from governance.snapshot_selectors import get_snapshot_venue

    venue = get_snapshot_venue(venue_id)
    return add_snapshot_venue(
        space=venue.space,
        sequencer_url=venue.sequencer_url,
        hub_url=venue.hub_url,
        recovery_executor=venue.recovery_executor,
        approver=venue.approver,
        approver_kind=venue.approver_kind,
        rpc_url=rpc_url,
    )


def read_space(*, hub_url: str, space: str) -> dict[str, Any]:
    """The space's settings as Lifeboat keeps them, from the hub's ``space(id)``.

    ``{name, chain_id, token, strategy_decimals, strategies, voting_delay, voting_period,
    voting_type, hub_quorum (Decimal), authors, only_members}``. ``SnapshotSpaceNotFound``
    (404), ``SnapshotSpaceUnsupported`` (409), and the client's errors.
    """
    answer = graphql(hub_url, SPACE_QUERY, {"id": space}).get("space")
    if not answer:
        raise SnapshotSpaceNotFound(
            f"the Snapshot hub at {redact_url(hub_url)} has no space {space!r}: check the space id (and that the "
            "hub URL is its GraphQL endpoint)",
            space=space,
        )
    network = str(answer.get("network") or "")
    if not network.isdigit():
        raise SnapshotSpaceUnsupported(
            f"space {space} is on network {network!r}, which is not a numeric chain id Lifeboat can read votes on",
            space=space,
            network=network,
        )
    chain_id = int(network)
    strategies = answer.get("strategies") or []
    if len(strategies) != 1 or strategies[0].get("name") != RECOUNTABLE_STRATEGY:
        names = ", ".join(str(s.get("name")) for s in strategies) or "none"
        raise SnapshotSpaceUnsupported(
            f"space {space} counts votes with the strategies [{names}]; Lifeboat recounts every vote exactly from "
            f"the chain and supports exactly one {RECOUNTABLE_STRATEGY!r} strategy (getPastVotes of an ERC20Votes "
            "token): set the space's strategies to that one",
            space=space,
            strategies=[s.get("name") for s in strategies],
        )
    strategy = strategies[0]
    params = strategy.get("params") or {}
    strategy_network = str(strategy.get("network") or network)
    if strategy_network != network:
        raise SnapshotSpaceUnsupported(
            f"space {space}'s {RECOUNTABLE_STRATEGY} strategy reads network {strategy_network}, not the space's "
            f"network {network}: Lifeboat reads voting power on the space's chain only",
            space=space,
        )
    token = params.get("address")
    if not isinstance(token, str) or not is_address(token):
        raise SnapshotSpaceUnsupported(
            f"space {space}'s {RECOUNTABLE_STRATEGY} strategy names no token address (params.address is {token!r})",
            space=space,
        )
    voting = answer.get("voting") or {}
    filters = answer.get("filters") or {}
    quorum = voting.get("quorum") or 0
    try:
        hub_quorum = Decimal(str(quorum))
    except InvalidOperation:
        raise SnapshotSpaceUnsupported(f"space {space}'s quorum {quorum!r} is not a number", space=space) from None
    if not hub_quorum.is_finite() or hub_quorum < 0:
        raise SnapshotSpaceUnsupported(f"space {space}'s quorum {quorum!r} is not a number >= 0", space=space)
    decimals = params.get("decimals")
    authors: list[str] = []
    for group in ("admins", "moderators", "members"):
        for who in answer.get(group) or []:
            if isinstance(who, str) and is_address(who) and to_checksum_address(who) not in authors:
                authors.append(to_checksum_address(who))
    return {
        "name": str(answer.get("name") or ""),
        "chain_id": chain_id,
        "token": to_checksum_address(token),
        "strategy_decimals": int(decimals) if isinstance(decimals, int | str) and str(decimals).isdigit() else None,
        "strategies": strategies,
        "voting_delay": int(voting.get("delay") or 0),
        "voting_period": int(voting.get("period") or 0),
        "voting_type": str(voting.get("type") or ""),
        "hub_quorum": hub_quorum,
        "authors": authors,
        "only_members": bool(filters.get("onlyMembers")),
    }


def _address(value: str, field: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{field} {value!r} is not an address (0x and 40 hex digits)", field=field, value=value)
    return to_checksum_address(value)


def _base_units(quorum: Decimal, decimals: int) -> int:
    """The hub's quorum (token units) in base units, rounded up: a quorum is a floor never to be undercut."""
    return int((quorum * (Decimal(10) ** decimals)).to_integral_value(rounding=ROUND_CEILING))


def _token_decimals(w3: Web3, settings: dict[str, Any], *, rpc_url: str) -> int:
    """The token's ``decimals()``, which the strategy's ``params.decimals`` must equal when it gives one."""
    token = settings["token"]
    try:
        decimals = int(bind(w3, "LifeboatToken", token).functions.decimals().call())
        bind(w3, "LifeboatToken", token).functions.getVotes(token).call()
    except (ContractLogicError, BadFunctionCallOutput):
        raise SnapshotSpaceUnsupported(
            f"the space's token {token} does not answer decimals() and getVotes(address) on chain "
            f"{settings['chain_id']}: it is not an ERC20Votes token Lifeboat can recount",
            token=token,
        ) from None
    except Web3RPCError as error:
        if "revert" in str(error).lower():
            raise SnapshotSpaceUnsupported(
                f"the space's token {token} reverts on decimals() or getVotes(address): it is not an "
                "ERC20Votes token Lifeboat can recount",
                token=token,
            ) from None
        raise ChainUnavailable(redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url])) from None
    except (OSError, ValueError) as error:
        raise ChainUnavailable(redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url])) from None
    declared = settings["strategy_decimals"]
    if declared is not None and declared != decimals:
        raise SnapshotSpaceUnsupported(
            f"the space's strategy says the token has {declared} decimals, but {token}.decimals() answers {decimals}: "
            "the hub's scores would be off by a power of ten; fix the strategy's decimals",
            token=token,
        )
    return decimals


def _check_executor_and_approver(
    w3: Web3, *, recovery_executor: str, approver: str, approver_kind: str, rpc_url: str
) -> str:
    """``APPROVER_ROLE``'s id once the approver is seen to hold it (and, for a Safe, to be a contract)."""
    executor = bind(w3, "RecoveryExecutor", recovery_executor)
    try:
        role = bytes(executor.functions.APPROVER_ROLE().call())
        if approver_kind == ApproverKind.SAFE and not has_code(w3, approver, block=w3.eth.block_number):
            raise SnapshotApproverNotAContract(
                f"the Safe approver {approver} has no code on chain {w3.eth.chain_id}: a Safe is a contract; give the "
                "Safe's address, or use --approver-kind key for a key",
                field="approver",
                approver=approver,
            )
        held = bool(executor.functions.hasRole(role, approver).call())
    except LifeboatError:
        raise
    except (ContractLogicError, BadFunctionCallOutput):
        raise NotARecoveryExecutorVenue(
            f"{recovery_executor} is not a RecoveryExecutor: APPROVER_ROLE() or hasRole(bytes32,address) reverts or "
            "returns nothing",
            field="recovery_executor",
            address=recovery_executor,
        ) from None
    except Web3RPCError as error:
        if "revert" in str(error).lower():
            raise NotARecoveryExecutorVenue(
                f"{recovery_executor} is not a RecoveryExecutor: APPROVER_ROLE() reverts",
                field="recovery_executor",
                address=recovery_executor,
            ) from None
        raise ChainUnavailable(redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url])) from None
    except (RpcUnavailable, ChainError, OSError, ValueError) as error:
        raise ChainUnavailable(redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url])) from None
    role_id = "0x" + role.hex()
    if not held:
        raise ApproverRoleMissing(
            f"the Snapshot venue's {approver_kind} approver {approver} does not hold APPROVER_ROLE on the "
            f"RecoveryExecutor {recovery_executor}, so it could not approve a passed plan: send "
            f"grantRole(APPROVER_ROLE={role_id}, {approver}) on {recovery_executor} from an account with its admin "
            "role, then add the venue again",
            executor=approver,
            recovery_executor=recovery_executor,
            approver_role=role_id,
            grant=f"grantRole({role_id}, {approver})",
        )
    return role_id
