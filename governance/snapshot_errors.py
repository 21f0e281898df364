"""Errors of Lifeboat's Snapshot venue; ``config/errors.py`` answers each with its status and code.

Each helper module adds the classes it raises below its own heading.
"""

from collections.abc import Mapping

from rest_framework import status as http

from config.errors import LifeboatError


class SnapshotVenueNotFound(LifeboatError):
    code = "snapshot_venue_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotProposalNotFound(LifeboatError):
    code = "snapshot_proposal_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotUnavailable(LifeboatError):
    """The sequencer or hub did not answer, or answered 5xx, after every retry (URL redacted)."""

    code = "snapshot_unavailable"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class SnapshotRefused(LifeboatError):
    """The sequencer refused a message; ``detail['error_description']`` is its reason, word for word."""

    code = "snapshot_refused"
    status = http.HTTP_409_CONFLICT


# --- governance/snapshot_client.py, snapshot_venues.py, snapshot_publishing.py, snapshot_following.py ---


class SnapshotHubError(LifeboatError):
    """The hub answered, but not as a hub does: GraphQL ``errors``, a 4xx, or no JSON (its words quoted)."""

    code = "snapshot_hub_error"
    status = http.HTTP_502_BAD_GATEWAY


class SnapshotSpaceNotFound(LifeboatError):
    """The hub has no space of that id."""

    code = "snapshot_space_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotSpaceUnsupported(LifeboatError):
    """The space's settings are ones Lifeboat cannot recount exactly (strategies, network, quorum type)."""

    code = "snapshot_space_unsupported"
    status = http.HTTP_409_CONFLICT


class SnapshotApproverNotAContract(LifeboatError):
    """A Safe approver with no code at its address on the space's chain."""

    code = "snapshot_approver_not_a_contract"
    status = http.HTTP_400_BAD_REQUEST


class SnapshotNotPublishable(LifeboatError):
    """The document cannot go to this space: no governor venue to rehearse on, or a key approver for parameter
    changes."""

    code = "snapshot_not_publishable"
    status = http.HTTP_409_CONFLICT


class SnapshotAuthorNotAllowed(LifeboatError):
    """The space takes proposals from its members only, and the proposer key is not one."""

    code = "snapshot_author_not_allowed"
    status = http.HTTP_409_CONFLICT


class SnapshotMessageTooLarge(LifeboatError):
    """The signed message would exceed the sequencer's size limit (``JSON.stringify(body).length > 1e5``)."""

    code = "snapshot_message_too_large"
    status = http.HTTP_409_CONFLICT


class SnapshotProposalNotFollowable(LifeboatError):
    """The Snapshot proposal is not created on the hub (still sending, or failed)."""

    code = "snapshot_proposal_not_followable"
    status = http.HTTP_409_CONFLICT


# --- governance/snapshot_approval.py, snapshot_votes.py ---


class SnapshotNotPassed(LifeboatError):
    """Approval asked for a Snapshot proposal whose followed outcome is not *passed* (yet, or ever)."""

    code = "snapshot_not_passed"
    status = http.HTTP_409_CONFLICT


class SnapshotApproverMismatch(LifeboatError):
    """The committee key Lifeboat holds is not the venue's approver (COMMITTEE_PRIVATE_KEY names another)."""

    code = "snapshot_approver_mismatch"
    status = http.HTTP_409_CONFLICT


class SnapshotApproverLacksRole(LifeboatError):
    """The venue's approver does not hold APPROVER_ROLE on the RecoveryExecutor; the message names the grantRole."""

    code = "snapshot_approver_lacks_role"
    status = http.HTTP_409_CONFLICT


class SnapshotApprovalFailed(LifeboatError):
    """An approvePlan reverted, or its nonce went to another transaction: the approval is failed (reason given)."""

    code = "snapshot_approval_failed"
    status = http.HTTP_409_CONFLICT


class SnapshotVoteInvalid(LifeboatError):
    """A vote envelope that is not a Snapshot Vote of this proposal signed by its voter (``detail['field']``)."""

    code = "snapshot_vote_invalid"
    status = http.HTTP_400_BAD_REQUEST


class SnapshotVoteRefused(LifeboatError):
    """A well-formed vote Lifeboat will not forward: outside the voting window, or no voting power at the snapshot."""

    code = "snapshot_vote_refused"
    status = http.HTTP_409_CONFLICT


# --- governance/apis_snapshot.py, governance/cli/snapshot.py ---


class SnapshotApprovalNotFound(LifeboatError):
    """A Snapshot proposal has no approval yet (it has not passed, or nobody acted on it)."""

    code = "snapshot_approval_not_found"
    status = http.HTTP_404_NOT_FOUND


class SnapshotVenueAmbiguous(LifeboatError):
    """Several Snapshot venues share a space (on different hubs): the caller must name one by id."""

    code = "snapshot_venue_ambiguous"
    status = http.HTTP_400_BAD_REQUEST


class SnapshotVoteRateLimited(LifeboatError):
    """Too many votes of one voter forwarded this hour (``SNAPSHOT_VOTES_PER_VOTER_PER_HOUR``); with Retry-After."""

    code = "snapshot_vote_rate_limited"
    status = http.HTTP_429_TOO_MANY_REQUESTS

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.detail["retry_after"])}
