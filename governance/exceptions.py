"""Errors of the governance app; ``config/errors.py`` answers each with its status and code.

Node failures and chain mismatches reuse recovery's ``ChainUnavailable`` (503) and
``ChainMismatch`` (409); bad input reuses ``InvalidInput`` (400).
"""

from collections.abc import Mapping

from rest_framework import status as http

from config.errors import LifeboatError


class VenueNotFound(LifeboatError):
    code = "venue_not_found"
    status = http.HTTP_404_NOT_FOUND


class NotAGovernorVenue(LifeboatError):
    """The address is no OpenZeppelin Governor; ``detail['missing']`` says what it lacks."""

    code = "not_a_governor"
    status = http.HTTP_400_BAD_REQUEST


class NotARecoveryExecutorVenue(LifeboatError):
    code = "not_a_recovery_executor"
    status = http.HTTP_400_BAD_REQUEST


class ApproverRoleMissing(LifeboatError):
    """The governor's executor lacks APPROVER_ROLE; the message names the exact ``grantRole`` to send."""

    code = "approver_role_missing"
    status = http.HTTP_409_CONFLICT


# --- Publishing, queueing and executing proposals (governance/publishing.py, governance/outcomes.py) ---


class PublicationNotFound(LifeboatError):
    code = "publication_not_found"
    status = http.HTTP_404_NOT_FOUND


class SigningKeyMissing(LifeboatError):
    """The key a role sends with (proposer, executor) is not configured; the message names the setting."""

    code = "signing_key_missing"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class NothingToPropose(LifeboatError):
    """The document has no parameter change and no asset with batches: a governor refuses an empty proposal."""

    code = "nothing_to_propose"
    status = http.HTTP_409_CONFLICT


class ProposerBelowThreshold(LifeboatError):
    """The proposer's votes (at clock - 1) are below ``proposalThreshold``; ``detail`` has both numbers."""

    code = "proposer_below_threshold"
    status = http.HTTP_409_CONFLICT


class ProposeRefused(LifeboatError):
    """The governor refuses the ``propose`` call (its decoded revert is in the message)."""

    code = "propose_refused"
    status = http.HTTP_409_CONFLICT


class ProposalIdMismatch(LifeboatError):
    """The chain's proposal id differs from the one computed here: the publication is not trusted."""

    code = "proposal_id_mismatch"
    status = http.HTTP_409_CONFLICT


class PublicationInFlight(LifeboatError):
    """The signed ``propose`` is sent but not yet mined; publishing again later finishes the publication."""

    code = "publication_in_flight"
    status = http.HTTP_409_CONFLICT


class ProposalNotReady(LifeboatError):
    """Not yet: the vote is running, the timelock's ETA is ahead, or the proposal must be queued first."""

    code = "proposal_not_ready"
    status = http.HTTP_409_CONFLICT


class ProposalClosed(LifeboatError):
    """The proposal can never be queued or executed: defeated, canceled or expired."""

    code = "proposal_closed"
    status = http.HTTP_409_CONFLICT


class PlanApprovalMissing(LifeboatError):
    """The execute receipt lacks the RecoveryExecutor's ``PlanApproved`` for an ``approvePlan`` call."""

    code = "plan_approval_missing"
    status = http.HTTP_409_CONFLICT


# --- following the vote (the indexer) ---


class PublicationNotFollowable(LifeboatError):
    """Only a proposal created on chain (status ``created``, with its id and block) is followed."""

    code = "publication_not_followable"
    status = http.HTTP_409_CONFLICT


class TallyMismatch(LifeboatError):
    """The indexed votes do not sum to the governor's ``proposalVotes`` at the followed block.

    Nothing of the run is stored; the message (also stored on the publication) gives both tallies.
    """

    code = "tally_mismatch"
    status = http.HTTP_409_CONFLICT


class ProposalReorgedOut(LifeboatError):
    """The block that created the proposal is no longer on the chain, and the proposal with it."""

    code = "proposal_reorged_out"
    status = http.HTTP_409_CONFLICT


# --- gasless ballots (the relay) ---


class BallotNotFound(LifeboatError):
    code = "ballot_not_found"
    status = http.HTTP_404_NOT_FOUND


class PublicationNotVotable(LifeboatError):
    """Ballots go only to a proposal created on chain (status ``created``, with its proposal id)."""

    code = "publication_not_votable"
    status = http.HTTP_409_CONFLICT


class BallotSignatureInvalid(LifeboatError):
    """The signature is not the voter's over this ballot; ``detail['reason']`` says what it was signed for."""

    code = "ballot_signature_invalid"
    status = http.HTTP_400_BAD_REQUEST


class V4StyleBallot(LifeboatError):
    """Signed as OpenZeppelin v4's ``Ballot(uint256 proposalId,uint8 support)``, which a v5 governor refuses."""

    code = "ballot_v4_style"
    status = http.HTTP_400_BAD_REQUEST


class BallotNonceStale(LifeboatError):
    """The ballot's nonce was already used (a later ballot or a permit consumed it); ``detail`` has both."""

    code = "ballot_nonce_stale"
    status = http.HTTP_409_CONFLICT


class BallotNonceAhead(LifeboatError):
    """The ballot's nonce is ahead of ``nonces(voter)``: it cannot be used before the earlier ones are."""

    code = "ballot_nonce_ahead"
    status = http.HTTP_409_CONFLICT


class BallotNoVotingPower(LifeboatError):
    code = "ballot_no_voting_power"
    status = http.HTTP_409_CONFLICT


class ProposalNotActive(LifeboatError):
    """Voting has not opened yet, or has closed; the message says when it opens or how it ended."""

    code = "proposal_not_active"
    status = http.HTTP_409_CONFLICT


class BallotAlreadyRelayed(LifeboatError):
    """Lifeboat already relayed this voter's ballot on this proposal; ``detail`` names it and its transaction."""

    code = "ballot_already_relayed"
    status = http.HTTP_409_CONFLICT


class AlreadyVoted(LifeboatError):
    """The governor's ``hasVoted`` is true: the voter voted already (directly, or through another relayer)."""

    code = "already_voted"
    status = http.HTTP_409_CONFLICT


class RelayerUnfunded(LifeboatError):
    """The relayer's balance is below the relay's worst-case cost; the message names the address and amount."""

    code = "relayer_unfunded"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


class BallotRateLimited(LifeboatError):
    """Too many ballots of one voter this hour (``BALLOT_RELAY_PER_VOTER_PER_HOUR``); answered with Retry-After."""

    code = "ballot_rate_limited"
    status = http.HTTP_429_TOO_MANY_REQUESTS

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.detail["retry_after"])}


class BallotRelayRefused(LifeboatError):
    """The governor refuses the vote (the relay's estimate reverts); nothing was sent."""

    code = "ballot_relay_refused"
    status = http.HTTP_409_CONFLICT


class BallotRelayFailed(LifeboatError):
    """The relay transaction was mined but failed; the ballot is recorded as failed with the reason."""

    code = "ballot_relay_failed"
    status = http.HTTP_409_CONFLICT
