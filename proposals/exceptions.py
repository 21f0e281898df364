"""Errors of the proposals app; ``config/errors.py`` answers each with its status and code."""

from rest_framework import status as http

from config.errors import LifeboatError


class ProposalNotFound(LifeboatError):
    code = "proposal_not_found"
    status = http.HTTP_404_NOT_FOUND


class PlanNotFreezable(LifeboatError):
    """The plan's data cannot make a canonical document (e.g. an amount stored as a float)."""

    code = "plan_not_freezable"
    status = http.HTTP_409_CONFLICT


# --- Committee sign-off and the publishable gate (proposals/signoffs.py, proposals/readiness.py) ---


class NotACommitteeMember(LifeboatError):
    """The signer (or the signed-in user) is no active committee member with a linked address."""

    code = "not_a_committee_member"
    status = http.HTTP_403_FORBIDDEN


class CommitteeMemberConflict(LifeboatError):
    """Linking an address that is already linked, or a user who already has an active address."""

    code = "committee_member_conflict"
    status = http.HTTP_409_CONFLICT


class SignatureMalformed(LifeboatError):
    code = "signature_malformed"
    status = http.HTTP_400_BAD_REQUEST


class SignatureMismatch(LifeboatError):
    """A well-formed signature that is not the member's over this document's digest for this venue."""

    code = "signature_mismatch"
    status = http.HTTP_400_BAD_REQUEST


class SignOffExists(LifeboatError):
    code = "signoff_exists"
    status = http.HTTP_409_CONFLICT


class VenueChainMismatch(LifeboatError):
    """The venue governs another chain than the document's incident."""

    code = "venue_chain_mismatch"
    status = http.HTTP_409_CONFLICT


class RehearsalRequired(LifeboatError):
    """The document's latest rehearsal on the venue did not pass (or none was run)."""

    code = "rehearsal_required"
    status = http.HTTP_409_CONFLICT


class SignOffThresholdNotMet(LifeboatError):
    code = "signoff_threshold_not_met"
    status = http.HTTP_409_CONFLICT


class RehearsalNotFound(LifeboatError):
    code = "rehearsal_not_found"
    status = http.HTTP_404_NOT_FOUND


class ExecutorMismatch(LifeboatError):
    """The venue approves on another RecoveryExecutor than the one the plan's batch leaves are bound to."""

    code = "recovery_executor_mismatch"
    status = http.HTTP_409_CONFLICT
