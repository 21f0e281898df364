"""What every venue offers the rest of Lifeboat, whatever it is on.

Two kinds exist: an OpenZeppelin Governor on chain (``GovernorVenue``) and, in a later issue,
a Snapshot space. Publishing and following take a ``Venue`` and branch on nothing else than
what it says here; each kind adds its own reads.
"""

from typing import Protocol, runtime_checkable

from governance.models import GovernorVenue


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
