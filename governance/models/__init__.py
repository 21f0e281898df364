"""Models of the governance app, one module per concern."""

from governance.models.ballots import *  # noqa: F403
from governance.models.publications import PlanApproval, Publication, PublicationStatus
from governance.models.snapshot import *  # noqa: F403
from governance.models.venues import GovernorVenue
from governance.models.votes import *  # noqa: F403

__all__ = ["GovernorVenue", "PlanApproval", "Publication", "PublicationStatus"]
