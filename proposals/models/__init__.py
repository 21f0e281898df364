"""Models of the proposals app, one module per concern."""

from proposals.models.documents import ProposalDocument, ProposalStatus
from proposals.models.rehearsal import *  # noqa: F403
from proposals.models.signoff import *  # noqa: F403

__all__ = ["ProposalDocument", "ProposalStatus"]
