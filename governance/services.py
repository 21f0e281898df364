"""State changes of the governance app: adding and re-probing venues.

Nothing is stored until the governor has been probed and its executor seen to hold
``APPROVER_ROLE``: a venue in the database is one a passed proposal can approve plans through.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from eth_typing import ChecksumAddress

from chain.errors import ChainError, WrongChain
from chain.governor import (
    ApproverMissing,
    GovernorProbe,
    NotAGovernor,
    NotARecoveryExecutor,
    check_approver,
    probe_governor,
)
from chain.redaction import redact, redact_url
from governance.exceptions import ApproverRoleMissing, NotAGovernorVenue, NotARecoveryExecutorVenue
from governance.models import GovernorVenue
from governance.selectors import get_governor_venue
from recovery.exceptions import ChainMismatch, ChainUnavailable


def add_governor_venue(
    *,
    chain_id: int,
    governor: ChecksumAddress,
    recovery_executor: ChecksumAddress,
    rpc_url: str,
    added_by: AbstractBaseUser | None = None,
) -> GovernorVenue:
    """Probe the governor on the node at ``rpc_url``, check its executor's APPROVER_ROLE, store the venue.

    Idempotent: adding a governor already stored for ``chain_id`` probes it again and updates it
    (with the RecoveryExecutor given now). ``ChainMismatch`` (409) when the node serves another
    chain, ``NotAGovernorVenue`` / ``NotARecoveryExecutorVenue`` (400), ``ApproverRoleMissing``
    (409, naming the ``grantRole`` to send), ``ChainUnavailable`` (503); nothing is written then.
    """
    probe, role = _probe(chain_id=chain_id, governor=governor, recovery_executor=recovery_executor, rpc_url=rpc_url)
    with transaction.atomic():
        venue = GovernorVenue.objects.select_for_update().filter(chain_id=chain_id, governor=probe.address).first()
        if venue is None:
            venue = GovernorVenue(chain_id=chain_id, governor=probe.address, added_by=added_by)
        venue.recovery_executor = recovery_executor
        _store_probe(venue, probe, role)
        venue.save()
    return venue


def probe_governor_venue(*, venue_id: int, rpc_url: str) -> GovernorVenue:
    """Read the stored venue's governor again and update what it answers; same errors as ``add_governor_venue``."""
    venue = get_governor_venue(venue_id)
    probe, role = _probe(
        chain_id=venue.chain_id, governor=venue.governor, recovery_executor=venue.recovery_executor, rpc_url=rpc_url
    )
    with transaction.atomic():
        venue = GovernorVenue.objects.select_for_update().get(pk=venue_id)
        _store_probe(venue, probe, role)
        venue.save()
    return venue


def _probe(*, chain_id: int, governor: str, recovery_executor: str, rpc_url: str) -> tuple[GovernorProbe, str]:
    from chain.rpc import connect, require_chain

    try:
        w3 = connect(rpc_url)
        require_chain(w3, chain_id)
        probe = probe_governor(w3, governor)
        if probe.chain_id != chain_id:  # the node changed under us between the two reads
            raise WrongChain(expected=chain_id, actual=probe.chain_id, url=rpc_url)
        role = check_approver(w3, probe, recovery_executor)
    except WrongChain as error:
        raise ChainMismatch(
            f"the venue is on chain {chain_id}, but the node at {redact_url(rpc_url)} serves chain {error.actual}",
            expected=chain_id,
            actual=error.actual,
        ) from None
    except NotAGovernor as error:
        raise NotAGovernorVenue(str(error), field="governor", address=error.address, missing=error.missing) from None
    except NotARecoveryExecutor as error:
        raise NotARecoveryExecutorVenue(
            str(error), field="recovery_executor", address=error.address, missing=error.missing
        ) from None
    except ApproverMissing as error:
        raise ApproverRoleMissing(
            str(error),
            executor=error.executor,
            recovery_executor=error.recovery_executor,
            approver_role=error.role,
            grant=f"grantRole({error.role}, {error.executor})",
        ) from None
    except ChainError as error:
        # The message may quote the URL (a key in its path): redacted before it leaves.
        raise ChainUnavailable(redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url])) from None
    return probe, role


def _store_probe(venue: GovernorVenue, probe: GovernorProbe, role: str) -> None:
    venue.name = probe.name[:200]
    venue.version = probe.version[:100]
    venue.interface_id = probe.interface_id
    venue.clock_mode = probe.clock_mode[:200]
    venue.voting_delay = probe.voting_delay
    venue.voting_period = probe.voting_period
    venue.quorum = probe.quorum
    venue.quorum_timepoint = probe.quorum_timepoint
    venue.proposal_threshold = probe.proposal_threshold
    venue.counting_mode = probe.counting_mode[:200]
    venue.token = probe.token
    venue.timelock = probe.timelock or ""
    venue.sequential_ids = probe.sequential_ids
    venue.stores_proposals = probe.stores_proposals
    venue.late_quorum_extension = probe.late_quorum_extension
    venue.approver_role = role
    venue.probed_at = timezone.now()
    venue.probed_block = probe.block_number
    venue.probed_block_hash = probe.block_hash
